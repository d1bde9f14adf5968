"""Bad input gets a clear gRPC status naming the field, and the server answers normally afterwards."""

import contextlib
import io
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import mido
import pytest
import tritonclient.grpc as triton_grpc

from clients.client import MusicClient, compose_request, song_options
from clients.errors import DgxMusicError
from deploy.launcher import Stack
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.memory import model_stubs
from triton_statistics import settled_counts
from waiting import is_gone, wait_until

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
    assert caught.value.code == INVALID
    assert caught.value.violations[0].field == "prompt"


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
    wait_until(lambda: all(map(is_gone, pids)), "the text2midi stubs are dead")
    assert client.generate_midi("drum and bass 174 amen break", song_options(bars=1)).midi.startswith(b"MThd")
    # Health follows Triton's readiness, polled every few seconds: it may have seen the model reloading.
    wait_until(lambda: client.health() == "SERVING", "health came back after the reload", timeout_s=30)


def long_song(variant: int, *, seconds: int = 120, tracks: int = 5) -> bytes:
    """A 120 bpm type 1 file of `tracks` tracks of eighth notes, `seconds` long; `variant` makes it unique."""
    song = mido.MidiFile(type=1, ticks_per_beat=480)
    for number in range(tracks):
        channel = 9 if number == tracks - 1 else number
        track = mido.MidiTrack([mido.Message("program_change", channel=channel, program=(number * 17) % 128)])
        for eighth in range(seconds * 4):
            note = 36 + (eighth * (number + 3) + variant) % 48
            track.append(mido.Message("note_on", channel=channel, note=note, velocity=90))
            track.append(mido.Message("note_off", channel=channel, note=note, time=240))
        song.tracks.append(track)
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def given_up(stack: Stack) -> int:
    """fluidsynth requests Triton's queue rejected (counted as failures) or the model stopped (logged by it; Triton
    counts a response that carries an error as a success)."""
    settled_counts(stack, "fluidsynth")
    with triton_grpc.InferenceServerClient(f"127.0.0.1:{stack.settings.triton_grpc_port}") as triton:
        stats = triton.get_inference_statistics("fluidsynth", as_json=True)["model_stats"][0]
    rejected = int(stats["inference_stats"].get("fail", {}).get("count", 0))
    stopped = (Path(stack.log_dir) / "triton.log").read_text(errors="replace").count(FLUIDSYNTH_SKIPPED)
    return rejected + stopped


FLUIDSYNTH_SKIPPED = "fluidsynth: stopped a request whose client no longer waits"  # model_repository/fluidsynth


def test_expired_requests_do_not_hold_up_the_next(stack: Stack, client: MusicClient) -> None:
    """Requests whose deadline passed are dropped from Triton's queue (or cancelled in the model) rather than
    rendered for nobody, so a request sent after them is not queued behind their work."""
    before = given_up(stack)

    def hurried(variant: int) -> grpc.StatusCode:
        with MusicClient(stack.gateway_target, timeout=1.0) as music, pytest.raises(DgxMusicError) as caught:
            music.render(pb.RenderRequest(midi=long_song(variant), stems=True, bypass_cache=True))
        return caught.value.code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(hurried, range(6)))
    assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 6
    with MusicClient(stack.gateway_target, timeout=30) as music:
        tiny = pb.RenderRequest(midi=long_song(99, seconds=1, tracks=1), bypass_cache=True)
        assert music.render(tiny).mix.shape[1] == 2
    # At most the requests Triton had started by the deadline render on (one per execution: batches run in turn).
    stopped = given_up(stack) - before
    assert stopped >= 4, f"only {stopped} of the 6 expired renders were dropped or stopped"


def reloads(stack: Stack, model: str) -> int:
    log = Path(stack.log_dir) / "gateway.log"
    return sum('"reloading_model"' in line and f'"{model}"' in line for line in log.read_text().splitlines())


def test_a_stub_killed_under_load_is_reloaded_once(stack: Stack) -> None:
    """Every request in flight or sent while the model reloads succeeds, and the concurrent failures share one
    reload."""
    reloads_before = reloads(stack, "fluidsynth")
    stop = threading.Event()
    errors: list[BaseException] = []
    done = [0]

    def loop(variant: int) -> None:
        with MusicClient(stack.gateway_target, timeout=60) as music:
            while not stop.is_set():
                request = pb.RenderRequest(midi=long_song(variant, seconds=4, tracks=2), bypass_cache=True)
                try:
                    music.render(request)
                    done[0] += 1
                except DgxMusicError as exc:
                    errors.append(exc)

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: done[0] >= 2, "renders are under way")
        for pid in model_stubs(stack.settings.triton_grpc_port)["fluidsynth"]:
            os.kill(pid, signal.SIGKILL)
        at_kill = done[0]
        wait_until(lambda: done[0] >= at_kill + 6 or errors, "renders went on after the reload", timeout_s=90)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    assert not errors, errors
    assert done[0] > 6
    assert reloads(stack, "fluidsynth") - reloads_before == 1


def test_a_hung_stub_is_replaced_and_left_running_nowhere(stack: Stack, client: MusicClient) -> None:
    """A stub that stops answering (SIGSTOP here) is found unhealthy and its model reloaded; Triton does not stop
    the old stub itself, so the gateway ends it rather than leave it beside the new one."""
    [hung] = model_stubs(stack.settings.triton_grpc_port)["text2midi"]
    os.kill(hung, signal.SIGSTOP)
    try:
        assert client.generate_midi("uk garage 132", song_options(bars=1)).midi.startswith(b"MThd")
        wait_until(lambda: is_gone(hung), "the hung stub was ended")
        assert hung not in model_stubs(stack.settings.triton_grpc_port)["text2midi"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGCONT)
