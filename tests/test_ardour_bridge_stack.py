"""A compose job's result placed into Ardour 7.3's real GUI through `dgx-music ardour bridge`, against the real
stack: a script sends /dgx_music/import <job_id> <bar> to the bridge, which fetches the job's song and stems with the
typed client, builds the ImportPlan and has Ardour's bridge action place it; the saved session is read back."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from ardour_gui import (
    SAMPLE_RATE,
    ArdourGui,
    Keyboard,
    ardour_missing,
    free_udp_port,
    midi_notes,
    running_ardour,
    wait_until,
)
from clients.ardour.plan import lua_string
from clients.client import MusicClient, compose_request, job_request, song_options
from deploy.launcher import Stack

SYNTH = "ACE Reasonable Synth"
TICK = 13  # samples: a tick of Ardour's musical time at 120 BPM and 48 kHz, rounded up


@pytest.fixture(scope="module")
def ardour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArdourGui]:
    missing = ardour_missing()
    if missing is not None:
        pytest.fail(missing)
    with running_ardour(tmp_path_factory.mktemp("ardour")) as gui:
        yield gui


@pytest.fixture
def bridge_port(stack: Stack, ardour: ArdourGui, tmp_path: Path) -> Iterator[int]:
    """`dgx-music ardour bridge` on a free port, talking to the test's Ardour and the stack, as its user runs it."""
    port = free_udp_port()
    env = ardour.env  # the user's HOME that Ardour runs in: the install's slot, the spool folder
    argv = [
        sys.executable,
        *("-m", "clients.cli", "ardour", "bridge"),
        *("--listen", f"127.0.0.1:{port}", "--ardour", f"127.0.0.1:{ardour.osc_port}"),
        *("--server", stack.gateway_target, "--out", str(tmp_path / "imports")),
    ]
    with open(tmp_path / "bridge.log", "wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(100):
            if ask(port, "/dgx_music/ping", timeout=0.2) is not None:
                break
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def song_track(name: str) -> str:
    return re.sub(r" \d+$", "", name)


def ask(port: int, address: str, *args: str | int, timeout: float) -> OscMessage | None:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.settimeout(timeout)
        sender.sendto(builder.build().dgram, ("127.0.0.1", port))
        try:
            return OscMessage(sender.recv(65536))
        except TimeoutError:
            return None


def test_a_compose_job_is_placed_at_a_bar_on_tracks_named_after_the_songs_through_the_bridge_command(
    stack: Stack, ardour: ArdourGui, bridge_port: int
) -> None:
    with MusicClient(stack.gateway_target, timeout=120) as music:
        request = compose_request("house with an intro and a drop, 128 BPM", options=song_options(bars=8, seed=5))
        job = music.submit_job(job_request(request))
        outcome = music.watch_job(job.id)
    assert outcome.succeeded
    info = outcome.result.info  # type: ignore[union-attr]

    reply = ask(bridge_port, "/dgx_music/import", job.id, 4, timeout=120)
    assert reply is not None
    assert reply.address == "/dgx_music/reply", reply.params
    placed = json.loads(reply.params[1])["placed"]
    saved = ardour.save()

    at = saved.sample_at_bar(4)
    assert placed["position"] == at == 4 * 2 * SAMPLE_RATE  # the session's 120 BPM up to the song
    # Track names are unique in a session: a song's track becomes a MIDI track and its stem an audio track, one of
    # them named "<track> 2".
    song_tracks = {track.name for track in info.tracks}
    midi = [track["name"] for track in placed["tracks"] if track["kind"] == "midi"]
    audio = [track["name"] for track in placed["tracks"] if track["kind"] == "audio"]
    assert midi
    assert {song_track(name) for name in midi} <= song_tracks
    assert sorted(song_track(name) for name in audio) == sorted(song_track(name) for name in midi)
    for name in midi:
        track = saved.track(name)
        assert SYNTH in track.plugins
        [region] = track.regions
        assert region.position == at
        # The song's own tempo from its first bar on: its 8 bars end where the saved tempo map says.
        assert abs(region.position + region.length - saved.sample_at_bar(12)) <= TICK
    for name in audio:
        assert [region.position for region in saved.track(name).regions] == [at]
    assert [point.quarters_per_minute for point in saved.tempos][-1] == pytest.approx(info.bpm)
    assert [marker.name for marker in saved.markers] == [section.name for section in info.sections]
    for marker, section in zip(saved.markers, info.sections, strict=True):
        assert abs(marker.start - saved.sample_at_bar(4 + section.start_bar)) <= TICK


def test_compose_at_playhead_typed_into_its_dialog_lands_its_midi_and_stems_at_the_playheads_bar(
    stack: Stack, tmp_path: Path
) -> None:
    """The action as a person uses it: pressed over OSC, its dialog filled (prompt, 8 bars, seed, the stems box
    ticked), OK; the saved session holds the song from the bar nearest the playhead."""
    with running_ardour(tmp_path / "ardour", server=stack.gateway_target) as gui:
        keyboard = Keyboard(gui.display)
        gui.osc("/locate", int(5.3 * SAMPLE_RATE), 0)  # nearest bar line: bar 3 (from 0), at 6 s
        plans = gui.plans()
        gui.trigger(gui.action_slot("dgx-music: Compose at playhead"))
        [dialog] = wait_until("dialog", lambda: gui.dialogs("Compose at playhead"), 30)
        keyboard.focus(dialog)
        keyboard.type("house with an intro and a drop")
        keyboard.key("Tab")
        keyboard.key("End")
        keyboard.key("BackSpace")
        keyboard.type("8")  # bars
        keyboard.key("Tab")
        keyboard.key("Tab")
        keyboard.type("5")  # seed
        keyboard.key("Tab")
        keyboard.key("space")  # the stems, as audio tracks
        keyboard.key("Tab")
        keyboard.key("Tab")
        keyboard.key("Return")  # OK
        plan = gui.wait_for_action(plans)
        keyboard.close()
        saved = gui.save()

    at = saved.sample_at_bar(3)
    assert at == 6 * SAMPLE_RATE
    plan_text = plan.read_text()
    midi = [track for track in saved.tracks if track.kind == "midi"]
    audio = [track for track in saved.tracks if track.kind == "audio"]
    assert midi
    assert sorted(song_track(track.name) for track in audio) == sorted(song_track(track.name) for track in midi)
    for track in midi:
        assert lua_string(song_track(track.name)) in plan_text
        assert SYNTH in track.plugins
        [region] = track.regions
        assert region.position == at
        assert abs(region.length - (saved.sample_at_bar(11) - at)) <= TICK  # 8 bars at the session's 120 BPM
        assert midi_notes(gui.session_file, region)
    for track in audio:
        [region] = track.regions
        assert region.position == at
        assert region.source_kind == "audio"
    assert saved.markers
    assert all(abs((marker.start - at) % saved.sample_at_bar(1)) <= TICK for marker in saved.markers)
