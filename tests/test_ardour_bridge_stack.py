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
from ardour_gui import SAMPLE_RATE, ArdourGui, ardour_missing, free_udp_port, running_ardour
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

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
        "-c",
        "from clients.ardour.bridge import bridge; bridge()",
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
