"""Plugins that fail, through the real stack (Triton's fluidsynth model and its plugin host's worker processes):
the faulty LV2 test plugins (tests/faulty_plugins.py, on the stack's LV2_PATH) crash or hang a Render's track, the
call fails naming it, and the same stack then renders with its soundfont and with a working plugin (issue #16)."""

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import mido
import numpy as np
import pytest

from clients.client import AudioResult, MusicClient
from clients.errors import DgxMusicError
from deploy.launcher import Stack
from dgxmusic.v1 import music_service_pb2 as pb
from faulty_plugins import CRASH_NAME, HANG_NAME
from renderers.plugin_host import WORKER_MODULE
from waiting import is_gone, wait_until

pytestmark = pytest.mark.usefixtures("faulty_lv2_path")

# Past it the client gives up on a hung plugin's render; the plugin host kills the worker at the same deadline.
HANG_DEADLINE_SECONDS = 5.0


def song() -> bytes:
    """Two seconds of a "Bass" and a "Piano" track, each a few notes on a channel of its own."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    parts = (("Bass", 33, (36, 43, 36, 41)), ("Piano", 0, (60, 64, 67, 72)))
    for channel, (name, program, pitches) in enumerate(parts):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        track.append(mido.Message("program_change", channel=channel, program=program))
        for pitch in pitches:
            track.append(mido.Message("note_on", channel=channel, note=pitch, velocity=100, time=0))
            track.append(mido.Message("note_off", channel=channel, note=pitch, velocity=0, time=480))
        midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


SONG = song()


def bass_on(instrument: str) -> pb.RenderRequest:
    return pb.RenderRequest(
        midi=SONG, instruments=[pb.InstrumentChoice(track="Bass", instrument=instrument)], bypass_cache=True
    )


def assert_sounds(result: AudioResult) -> None:
    assert result.mix.shape[0] > result.sample_rate  # the song's two seconds, at least
    assert np.all(np.isfinite(result.mix))
    assert np.abs(result.mix).max() > 0.01


def assert_still_renders(client: MusicClient) -> None:
    """A plain Render (the soundfont) and one with a working plugin on the Bass both succeed."""
    assert_sounds(client.render(pb.RenderRequest(midi=SONG, bypass_cache=True)))
    assert_sounds(client.render(bass_on("lv2:mda-piano")))


def render_processes(stack: Stack, *, older_than: float) -> list[int]:
    """The processes that the plugin host's workers under the stack's Triton forked (one per render or plugin
    scan), and that have run for more than `older_than` seconds."""
    triton = next(child.process.pid for child in stack.children if child.name == "triton")
    now = float(Path("/proc/uptime").read_text().split()[0])
    parents: dict[int, int] = {}
    workers: set[int] = set()
    old: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while we looked
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        if WORKER_MODULE.encode() in command:
            workers.add(pid)
        if now - int(fields[19]) / os.sysconf("SC_CLK_TCK") > older_than:  # fields[19]: its start, in ticks
            old.add(pid)

    def under_triton(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == triton:
                return True
        return False

    return sorted(pid for pid in workers & old if parents[pid] in workers and under_triton(pid))


def test_a_crashing_plugin_fails_the_render_naming_its_track_and_the_signal(client: MusicClient) -> None:
    with pytest.raises(DgxMusicError) as caught:
        client.render(bass_on(CRASH_NAME))
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE, caught.value
    assert "'Bass'" in str(caught.value)
    assert "SIGSEGV" in str(caught.value)
    assert_still_renders(client)


def test_a_hanging_plugin_is_cut_off_at_the_calls_deadline_and_leaves_no_process(
    stack: Stack, client: MusicClient
) -> None:
    with (
        MusicClient(stack.gateway_target, timeout=HANG_DEADLINE_SECONDS) as impatient,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        call = pool.submit(impatient.render, bass_on(HANG_NAME))
        # A render of the song, or a plugin scan, takes well under a second; one process runs on: the hung render.
        wait_until(lambda: render_processes(stack, older_than=1.5), "a render hangs in the plugin", timeout_s=10.0)
        hung = render_processes(stack, older_than=1.5)
        assert len(hung) == 1
        with pytest.raises(DgxMusicError) as caught:
            call.result(timeout=30.0)
    assert caught.value.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED), caught.value
    wait_until(
        lambda: all(is_gone(pid) for pid in hung),
        "the hung render's process dies with its killed worker",
        timeout_s=10.0,
    )
    assert_still_renders(client)
