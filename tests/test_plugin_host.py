"""Tests of renderers.plugin_host with real plugins (Debian's mda Piano and ZynAddSubFX LV2) in real worker
processes; crashes, hangs and NaNs come from real LV2 plugins that fail on purpose (tests/faulty_plugins.py: a
SIGSEGV in run(), a run() that never returns, NaN samples)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from dgxmusic.errors import Cancelled
from faulty_plugins import CRASH, HANG, NAN, lv2_path_with
from renderers import EventKind, LV2Renderer, MidiEvent, PluginFailed, PluginNotFound, RenderError
from renderers.plugin_host import PluginHost, worker_environment, worker_python
from renderers.plugins import PluginFormat, PluginSound
from waiting import is_gone, wait_until

PIANO = PluginSound(PluginFormat.LV2, "http://drobilla.net/plugins/mda/Piano")
ZYNADDSUBFX = PluginSound(PluginFormat.LV2, "http://zynaddsubfx.sourceforge.net")
RATE = 44100
SECONDS = 0.5
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def notes(*pitches: int) -> list[MidiEvent]:
    """The pitches played one after another, 50 ms apart, all released at 0.3 s."""
    played = [MidiEvent(0.05 * number, EventKind.NOTE_ON, 0, pitch, 100) for number, pitch in enumerate(pitches)]
    released = [MidiEvent(0.3, EventKind.NOTE_OFF, 0, pitch) for pitch in pitches]
    return played + released


def in_process(events: list[MidiEvent]) -> npt.NDArray[np.float32]:
    with LV2Renderer(PIANO.locator, RATE) as renderer:
        return renderer.render(events, SECONDS)


def children(pid: int) -> list[int]:
    """The process ids of the process's children (a worker's: the one it forked for the render under way)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()]


@pytest.fixture(scope="module", autouse=True)
def workers_find_the_faulty_plugins(faulty_plugins_dir: Path | None) -> Iterator[None]:
    """Every worker started in this module (they inherit os.environ) finds the faulty test plugins, where a C
    compiler built them; the tests that use them ask for faulty_lv2_path, which skips them elsewhere."""
    with pytest.MonkeyPatch.context() as patch:
        if faulty_plugins_dir is not None:
            patch.setenv("LV2_PATH", lv2_path_with(faulty_plugins_dir))
        yield


@pytest.fixture(scope="module")
def host() -> Iterator[PluginHost]:
    """Two workers; a render that takes 3 s has failed."""
    with PluginHost(workers=2, render_timeout_seconds=3.0) as plugin_host:
        yield plugin_host


def test_a_render_equals_the_same_render_in_process(host: PluginHost) -> None:
    events = notes(60, 64, 67)
    audio = host.render(PIANO, events, RATE, SECONDS, label="piano")
    assert audio.shape == (round(SECONDS * RATE), 2)
    assert audio.dtype == np.float32
    assert np.abs(audio).max() > 0.1
    np.testing.assert_array_equal(audio, in_process(events))


def test_the_same_sound_renders_the_same_again_from_its_open_renderer(host: PluginHost) -> None:
    events = notes(48, 55)
    first = host.render(PIANO, events, RATE, SECONDS)
    np.testing.assert_array_equal(host.render(PIANO, events, RATE, SECONDS), first)


def test_a_render_of_no_time_is_empty(host: PluginHost) -> None:
    assert host.render(PIANO, notes(60), RATE, 0.0).shape == (0, 2)


def test_the_scan_lists_mda_piano_by_name(host: PluginHost) -> None:
    found = {plugin.locator: plugin for plugin in host.scan()}
    assert found[PIANO.locator].title == "MDA Piano"
    assert found[PIANO.locator].format is PluginFormat.LV2


def test_a_plugin_that_prints_to_stdout_does_not_break_the_protocol(host: PluginHost) -> None:
    audio = host.render(ZYNADDSUBFX, notes(60), RATE, SECONDS)  # prints "lo server running on ..."
    assert np.abs(audio).max() > 0.001


@pytest.mark.usefixtures("faulty_lv2_path")
def test_a_crash_fails_the_track_by_name_and_signal_and_the_next_render_works(host: PluginHost) -> None:
    with pytest.raises(PluginFailed, match=r"track 'lead': lv2 plugin urn:dgx-music:test:crash: .*SIGSEGV"):
        host.render(CRASH, notes(60), RATE, SECONDS, label="lead")
    events = notes(62)
    np.testing.assert_array_equal(host.render(PIANO, events, RATE, SECONDS), in_process(events))


@pytest.mark.usefixtures("faulty_lv2_path")
def test_a_hang_fails_within_the_timeout_and_leaves_neither_its_worker_nor_the_render_process() -> None:
    with PluginHost(workers=1, render_timeout_seconds=2.0) as host, ThreadPoolExecutor(max_workers=1) as pool:
        host.render(PIANO, notes(60), RATE, SECONDS)
        (worker,) = host.worker_pids
        started = time.monotonic()
        hanging = pool.submit(host.render, HANG, notes(60), RATE, SECONDS, label="bass")
        wait_until(lambda: children(worker), "the worker forks a process for the render", timeout_s=2.0)
        (render,) = children(worker)
        with pytest.raises(PluginFailed, match=r"track 'bass': .* did not finish within 2 s"):
            hanging.result(timeout=5.0)
        assert time.monotonic() - started < 3.0
        assert is_gone(worker)
        wait_until(lambda: is_gone(render), "the hung render's process dies with its worker", timeout_s=2.0)
        assert host.render(PIANO, notes(60), RATE, SECONDS).shape == (round(SECONDS * RATE), 2)


@pytest.mark.usefixtures("faulty_lv2_path")
def test_samples_that_are_not_finite_fail_the_track(host: PluginHost) -> None:
    with pytest.raises(PluginFailed, match=r"track 'pad': .* not finite"):
        host.render(NAN, notes(60), RATE, SECONDS, label="pad")


def test_an_unknown_plugin_is_not_found_in_the_instrument_field(host: PluginHost) -> None:
    with pytest.raises(PluginNotFound) as raised:
        host.render(PluginSound(PluginFormat.LV2, "urn:nowhere:synth"), notes(60), RATE, SECONDS)
    assert raised.value.field == "instrument"
    assert raised.value.uri == "urn:nowhere:synth"
    assert "urn:nowhere:synth" in str(raised.value)


def test_a_render_past_its_deadline_is_cancelled(host: PluginHost) -> None:
    with pytest.raises(Cancelled):
        host.render(PIANO, notes(60), RATE, SECONDS, deadline=time.time() - 1.0)


@pytest.mark.usefixtures("faulty_lv2_path")
def test_a_hang_cut_short_by_the_deadline_is_cancelled(host: PluginHost) -> None:
    started = time.monotonic()
    with pytest.raises(Cancelled, match="deadline"):
        host.render(HANG, notes(60), RATE, SECONDS, deadline=time.time() + 0.5)
    assert time.monotonic() - started < 1.5


def test_four_threads_render_at_once_on_two_workers_each_its_own_notes(host: PluginHost) -> None:
    parts = [notes(48 + 5 * number, 60 + 3 * number) for number in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        renders = list(pool.map(lambda events: host.render(PIANO, events, RATE, SECONDS), parts))
    assert len(host.worker_pids) == 2
    for audio, events in zip(renders, parts, strict=True):
        np.testing.assert_array_equal(audio, in_process(events))


def test_close_leaves_no_worker_processes_and_later_renders_fail() -> None:
    host = PluginHost(workers=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda pitch: host.render(PIANO, notes(pitch), RATE, SECONDS), (60, 67)))
    pids = host.worker_pids
    assert len(pids) == 2
    host.close()
    assert all(is_gone(pid) for pid in pids)
    assert host.worker_pids == []
    with pytest.raises(RenderError, match="closed"):
        host.render(PIANO, notes(60), RATE, SECONDS)


@pytest.mark.usefixtures("faulty_lv2_path")
def test_close_ends_a_render_under_way_with_plugin_failed() -> None:
    host = PluginHost(workers=1, render_timeout_seconds=30.0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        hanging = pool.submit(host.render, HANG, notes(60), RATE, SECONDS, label="drums")
        while not host.worker_pids:
            time.sleep(0.01)
        (pid,) = host.worker_pids
        time.sleep(0.5)  # the worker boots and hangs in its render
        host.close()
        with pytest.raises(PluginFailed, match=r"track 'drums': .* SIGKILL"):
            hanging.result(timeout=5.0)
    assert is_gone(pid)


@pytest.mark.usefixtures("faulty_lv2_path")
def test_a_worker_hung_in_a_plugin_ends_itself_when_its_parent_is_killed() -> None:
    script = textwrap.dedent(
        f"""
        import threading, time
        from renderers.plugin_host import PluginHost
        from renderers.plugins import PluginFormat, PluginSound
        host = PluginHost(workers=1)
        hang = PluginSound(PluginFormat.LV2, {HANG.locator!r})
        threading.Thread(target=host.render, args=(hang, [], 44100, 0.1), daemon=True).start()
        while not host.worker_pids:
            time.sleep(0.01)
        print(*host.worker_pids, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=worker_environment()
    ) as parent:
        assert parent.stdout is not None
        (worker,) = map(int, parent.stdout.readline().split())
        wait_until(lambda: children(worker), "the worker forks a process for the render", timeout_s=5.0)
        (render,) = children(worker)  # hung in the plugin's run(); the worker waits for it, deaf to its stdin
        parent.kill()
    waited = time.monotonic()
    # The worker looks for its parent once a second; 15 s leaves room for a CI machine busy with other tests (5 s
    # was once too few there).
    while not (is_gone(worker) and is_gone(render)) and time.monotonic() - waited < 15.0:
        time.sleep(0.05)
    orphaned = [name for name, pid in (("worker", worker), ("render", render)) if not is_gone(pid)]
    for pid in (worker, render):
        if not is_gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert not orphaned


def test_inside_a_stub_whose_executable_is_not_python_workers_run_on_its_installations_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "executable", "/opt/tritonserver/backends/python/triton_python_backend_stub")
    python = worker_python()
    assert python.startswith(os.path.join(sys.prefix, "bin", "python3"))
    with PluginHost(workers=1) as host:
        assert host.render(PIANO, notes(60), RATE, SECONDS).shape == (round(SECONDS * RATE), 2)


def test_workers_import_the_renderers_this_process_imports() -> None:
    first = worker_environment()["PYTHONPATH"].split(os.pathsep)[0]
    assert Path(first) == PROJECT_ROOT
