"""Bad input gets a clear gRPC status naming the field, and the server answers normally afterwards."""

import io
import os
import signal
import time

import grpc
import mido
import pytest

from clients.client import MusicClient, compose_request, song_options
from clients.errors import DgxMusicError
from deploy.launcher import Stack
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.memory import model_stubs

INVALID = grpc.StatusCode.INVALID_ARGUMENT
TOO_LARGE = grpc.StatusCode.RESOURCE_EXHAUSTED


def midi_with_huge_delta() -> bytes:
    """A valid file whose one delta time claims 77 hours."""
    song = mido.MidiFile(type=1, ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.Message("note_on", note=60, velocity=100, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480 * 2 * 77 * 3600))
    song.tracks.append(track)
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


COMPOSE_CASES = {
    "empty prompt": (compose_request("   "), INVALID, "prompt"),
    "100 KB prompt": (compose_request("trap " * 20_000), TOO_LARGE, "prompt"),
    "bpm 0": (compose_request("trap", options=song_options(bpm=0)), INVALID, "options.bpm"),
    "bpm 10000": (compose_request("trap", options=song_options(bpm=10_000)), INVALID, "options.bpm"),
    "bars 0": (compose_request("trap", options=song_options(bars=0)), INVALID, "options.bars"),
    "unknown key": (compose_request("trap", options=song_options(key="H major")), INVALID, "options.key"),
    "900 bars in the prompt": (compose_request("trap, 900 bars"), TOO_LARGE, "prompt"),
    "900 bars as an option": (compose_request("trap", options=song_options(bars=900)), TOO_LARGE, "options.bars"),
    "bars and seconds": (compose_request("trap", options=song_options(bars=4, seconds=8)), INVALID, "options.bars"),
    "unknown soundfont": (
        compose_request("trap", options=song_options(bars=1), soundfont="NoSuchFont"),
        INVALID,
        "soundfont",
    ),
    "path as soundfont": (compose_request("trap", soundfont="../../etc/passwd"), INVALID, "soundfont"),
    "sample rate 1": (
        compose_request("trap", audio_format=audio_pb2.AudioFormat(sample_rate=1)),
        INVALID,
        "audio_format.sample_rate",
    ),
    "float FLAC": (
        compose_request(
            "trap",
            audio_format=audio_pb2.AudioFormat(
                encoding=audio_pb2.AUDIO_ENCODING_FLAC, sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32
            ),
        ),
        INVALID,
        "audio_format.sample_format",
    ),
}

RENDER_CASES = {
    "empty MIDI": (pb.RenderRequest(midi=b""), INVALID, "midi"),
    "garbage MIDI": (pb.RenderRequest(midi=b"MThd this is not a MIDI file" * 10), INVALID, "midi"),
    "77-hour MIDI": (pb.RenderRequest(midi=midi_with_huge_delta()), TOO_LARGE, "midi"),
}


def assert_still_serving(client: MusicClient) -> None:
    assert client.health() == "SERVING"
    assert client.generate_midi("boom bap 90 with jazz piano", song_options(bars=1)).midi.startswith(b"MThd")


@pytest.mark.parametrize("case", COMPOSE_CASES)
def test_bad_compose_requests(client: MusicClient, case: str) -> None:
    request, code, field = COMPOSE_CASES[case]
    with pytest.raises(DgxMusicError) as caught:
        client.compose(request)
    assert caught.value.code == code, caught.value
    assert [v.field for v in caught.value.violations] == [field]
    assert_still_serving(client)


@pytest.mark.parametrize("case", RENDER_CASES)
def test_bad_render_requests(client: MusicClient, case: str) -> None:
    request, code, field = RENDER_CASES[case]
    with pytest.raises(DgxMusicError) as caught:
        client.render(request)
    assert caught.value.code == code, caught.value
    assert [v.field for v in caught.value.violations] == [field]
    assert_still_serving(client)


def test_generate_midi_names_the_field(client: MusicClient) -> None:
    with pytest.raises(DgxMusicError) as caught:
        client.generate_midi("", None)
    assert caught.value.code == INVALID and caught.value.violations[0].field == "prompt"


def test_one_millisecond_deadline(stack: Stack, client: MusicClient) -> None:
    with MusicClient(stack.gateway_target, timeout=0.001) as hurried, pytest.raises(DgxMusicError) as caught:
        hurried.compose(compose_request("trap", options=song_options(bars=64), bypass_cache=True))
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert_still_serving(client)


def test_a_killed_model_stub_is_reloaded(stack: Stack, client: MusicClient) -> None:
    pids = model_stubs(stack.settings.triton_grpc_port)["text2midi"]
    assert pids, "the text2midi stub runs as its own process"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert client.generate_midi("drum and bass 174 amen break", song_options(bars=1)).midi.startswith(b"MThd")
    # Health follows Triton's readiness, polled every few seconds: it may have seen the model reloading.
    deadline = time.monotonic() + 30
    while client.health() != "SERVING":
        assert time.monotonic() < deadline, "health did not come back after the reload"
        time.sleep(0.5)
