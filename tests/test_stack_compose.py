"""Compose, GenerateMidi and Render end to end through the real gateway, Triton and Redis."""

import io
import json
import signal
import subprocess
import sys
import time
from typing import Any, NamedTuple

import grpc
import mido
import numpy as np
import pytest

from clients.client import AsyncMusicClient, ComposeResult, MusicClient, compose_request, song_options
from deploy.launcher import Stack
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.music_service_pb2_grpc import MusicServiceStub
from rendering import assert_song_and_tail
from waiting import wait_until

PROMPT = "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor"


class Composed(NamedTuple):
    request: pb.ComposeRequest
    progress: list[pb.Progress]
    result: ComposeResult


@pytest.fixture(scope="module")
def composed(client: MusicClient) -> Composed:
    request = compose_request(PROMPT, options=song_options(bars=4, seed=7), bypass_cache=True)
    progress: list[pb.Progress] = []
    return Composed(request, progress, client.compose(request, on_progress=progress.append))


def test_compose_returns_midi_mix_and_stems_that_agree(composed: Composed) -> None:
    _, progress, result = composed
    song = mido.MidiFile(file=io.BytesIO(result.midi))
    assert song.type == 1
    tempos = [m.tempo for t in song.tracks for m in t if m.type == "set_tempo"]
    assert tempos
    assert mido.tempo2bpm(tempos[0]) == pytest.approx(140, abs=0.01)
    assert result.info.bpm == pytest.approx(140)
    assert result.info.bars == 4
    assert result.info.key == "F minor"

    seconds = 4 * 4 * 60 / 140
    assert result.sample_rate == 44100
    assert_song_and_tail(result.mix, seconds)
    assert song.length == pytest.approx(seconds, abs=1e-3)
    assert np.isfinite(result.mix).all()
    peak = np.abs(result.mix).max()
    assert 0.5 < peak <= 1.0, "the mix peaks near -1 dBFS without clipping"

    names = {track.name for track in result.info.tracks}
    assert set(result.stems) == names
    assert {"Drums", "Chords", "Lead"} <= names
    for stem in result.stems.values():
        assert stem.shape == result.mix.shape
        assert np.abs(stem).max() > 1e-3, "every stem is audible"
    np.testing.assert_allclose(sum(result.stems.values()), result.mix, atol=1e-5)

    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert not result.summary.cache_hit
    assert {t.stage for t in result.summary.stage_timings} >= {pb.STAGE_COMPOSING, pb.STAGE_RENDERING}


def test_a_repeat_is_served_from_the_cache(client: MusicClient, composed: Composed) -> None:
    request, _, first = composed
    again = pb.ComposeRequest()
    again.CopyFrom(request)
    again.bypass_cache = False
    client.compose(again)  # fills the cache if bypass_cache kept it from the first call's key
    repeat = client.compose(again)
    assert repeat.summary.cache_hit
    assert {t.stage for t in repeat.summary.stage_timings} == {pb.STAGE_CACHE}, "Triton was not called"
    assert repeat.midi == first.midi
    np.testing.assert_array_equal(repeat.mix, first.mix)


def test_a_repeat_right_after_the_answer_is_a_cache_hit(client: MusicClient) -> None:
    # The cache is written after the summary goes out; a repeat that arrives meanwhile waits for that write.
    for seed in range(100, 105):
        request = compose_request("minimal techno 128", options=song_options(bars=1, seed=seed), stems=False)
        first, repeat = client.compose(request), client.compose(request)
        assert not first.summary.cache_hit
        assert repeat.summary.cache_hit


def test_same_seed_same_song_other_seed_other_song(client: MusicClient) -> None:
    a = client.generate_midi("house 124, A minor", song_options(bars=4, seed=1))
    b = client.generate_midi("house 124, A minor", song_options(bars=4, seed=1))
    c = client.generate_midi("house 124, A minor", song_options(bars=4, seed=2))
    assert a.midi == b.midi != c.midi
    assert a.info.genre == "house"


CAPTION = (
    "A cinematic soundtrack piece featuring french horn, timpani, string ensemble, choir aahs and orchestral harp. "
    "It is set in C minor with a 6/4 time signature and moves at an Andante tempo; epic, dark and dramatic."
)
CAPTION_PROGRAMS = {60, 47, 48, 52, 46}


def test_a_caption_is_composed_as_it_reads(client: MusicClient) -> None:
    """Through the stack: every named instrument heard in its own stem by its exact GM program, the caption's meter,
    tempo word and key in the MIDI (the key as music21 finds it on the notes), and no word ignored."""
    import music21  # slow to import: only here

    result = client.compose(compose_request(CAPTION, options=song_options(bars=8, seed=3), bypass_cache=True))
    song = mido.MidiFile(file=io.BytesIO(result.midi))
    meter = next(m for t in song.tracks for m in t if m.type == "time_signature")
    assert (meter.numerator, meter.denominator) == (6, 4)
    assert 70 < result.info.bpm <= 90  # Andante, as captions mean it
    named = {track.name: track.program for track in result.info.tracks if track.program in CAPTION_PROGRAMS}
    assert set(named.values()) == CAPTION_PROGRAMS
    for name in named:
        assert np.abs(result.stems[name]).max() > 0.01, f"{name}'s stem is silent"
    assert json.loads(result.info.metadata_json)["unknown_words"] == []
    found = music21.converter.parseData(result.midi, format="midi").analyze("key")
    assert (found.tonic.name, found.mode) == ("C", "minor")


@pytest.mark.parametrize(
    ("encoding", "sample_format", "tolerance"),
    [
        (audio_pb2.AUDIO_ENCODING_PCM, audio_pb2.SAMPLE_FORMAT_INT16, 1e-4),
        (audio_pb2.AUDIO_ENCODING_WAV, audio_pb2.SAMPLE_FORMAT_FLOAT32, 0),
        (audio_pb2.AUDIO_ENCODING_FLAC, audio_pb2.SAMPLE_FORMAT_UNSPECIFIED, 1e-6),
    ],
)
def test_render_in_each_encoding_matches_float_pcm(
    client: MusicClient,
    encoding: audio_pb2.AudioEncoding,
    sample_format: audio_pb2.SampleFormat,
    tolerance: float,
) -> None:
    midi = client.generate_midi("lofi hip hop with jazzy rhodes at 85", song_options(bars=2)).midi
    reference = client.render(pb.RenderRequest(midi=midi, audio_format=audio_pb2.AudioFormat(sample_rate=22050)))
    encoded = client.render(
        pb.RenderRequest(
            midi=midi,
            audio_format=audio_pb2.AudioFormat(sample_rate=22050, encoding=encoding, sample_format=sample_format),
        )
    )
    assert reference.sample_rate == encoded.sample_rate == 22050
    assert reference.mix.shape == encoded.mix.shape
    assert_song_and_tail(reference.mix, 2 * 4 * 60 / 85, 22050)
    np.testing.assert_allclose(encoded.mix, reference.mix, rtol=0, atol=tolerance)
    assert not encoded.stems


@pytest.mark.parametrize(
    ("encoding", "sample_rate"), [(audio_pb2.AUDIO_ENCODING_MP3, 44100), (audio_pb2.AUDIO_ENCODING_OPUS, 48000)]
)
def test_render_as_lossy_files(client: MusicClient, encoding: audio_pb2.AudioEncoding, sample_rate: int) -> None:
    midi = client.generate_midi("lofi hip hop with jazzy rhodes at 85", song_options(bars=2)).midi
    fmt = audio_pb2.AudioFormat(sample_rate=sample_rate)
    reference = client.render(pb.RenderRequest(midi=midi, audio_format=fmt, stems=True))
    fmt.encoding = encoding
    encoded = client.render(pb.RenderRequest(midi=midi, audio_format=fmt, stems=True))
    assert encoded.assembler.headers[""].encoding == encoding
    assert encoded.mix.shape == reference.mix.shape
    for name, stem in reference.stems.items():
        assert encoded.stems[name].shape == stem.shape
    assert np.corrcoef(encoded.mix[:, 0], reference.mix[:, 0])[0, 1] > 0.95  # the same music, through a codec


def test_render_stems_and_soundfont_choice(client: MusicClient) -> None:
    midi = client.generate_midi("dubstep drop wobble bass 140", song_options(bars=2)).midi
    fluid = client.render(pb.RenderRequest(midi=midi, stems=True, soundfont="FluidR3_GM"))
    tim = client.render(pb.RenderRequest(midi=midi, stems=True, soundfont="TimGM6mb"))
    assert set(fluid.stems) == set(tim.stems)
    assert fluid.stems
    song = 2 * 4 * 60 / 140
    for rendered in (fluid, tim):
        assert_song_and_tail(rendered.mix, song)
        assert all(stem.shape == rendered.mix.shape for stem in rendered.stems.values())
    played = round(song * 44100)
    assert not np.allclose(fluid.mix[:played], tim.mix[:played]), "another SoundFont sounds different"
    # Without stems the model renders tracks in shared synths: the same song, within FluidSynth's voice interplay.
    mix_only = client.render(pb.RenderRequest(midi=midi, soundfont="fluidr3_gm.sf2"))  # a name as people type it
    assert not mix_only.stems
    assert abs(len(mix_only.mix) - len(fluid.mix)) < 0.05 * 44100, "their tails fade alike"
    difference = mix_only.mix[:played] - fluid.mix[:played]
    assert np.sqrt(np.mean(difference**2)) < 0.02 * np.sqrt(np.mean(fluid.mix**2))


async def test_async_client_composes(stack: Stack) -> None:
    async with AsyncMusicClient(stack.gateway_target, timeout=60) as music:
        assert await music.health() == "SERVING"
        result = await music.compose(
            compose_request("house 125 with 909 drums", options=song_options(bars=2), stems=False)
        )
    assert result.info.genre == "house"
    assert not result.stems
    assert_song_and_tail(result.mix, 2 * 4 * 60 / 125)


def test_the_async_client_has_every_call_of_the_blocking_one() -> None:
    def calls(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_") and callable(getattr(cls, name))}

    assert calls(MusicClient) == calls(AsyncMusicClient)


async def test_async_client_separates_generates_and_lists_models(stack: Stack) -> None:
    audio = np.random.default_rng(0).uniform(-0.3, 0.3, (44100, 2)).astype(np.float32)
    async with AsyncMusicClient(stack.gateway_target, timeout=120) as music:
        stems = await music.separate((audio, 44100))
        clip = await music.generate_audio(pb.GenerateAudioRequest(prompt="short techno loop", seconds=1, seed=2))
        models = {model.name for model in await music.list_models()}
    assert set(stems.stems) == {"drums", "bass", "other", "vocals"}
    assert all(stem.shape == audio.shape for stem in stems.stems.values())
    assert clip.stems["0"].shape == (32000, 1)
    assert {"demucs", "musicgen"} <= models


def test_a_cancelled_compose_leaves_the_server_serving(stack: Stack, client: MusicClient) -> None:
    with grpc.insecure_channel(stack.gateway_target) as channel:
        call = MusicServiceStub(channel).Compose(
            compose_request("techno 130", options=song_options(bars=64), bypass_cache=True), timeout=60
        )
        first = next(call)
        assert first.WhichOneof("event") == "progress"
        call.cancel()
        with pytest.raises(grpc.RpcError) as caught:
            list(call)
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    assert client.health() == "SERVING"
    assert client.generate_midi("pop 120", song_options(bars=1)).midi.startswith(b"MThd")


def test_a_call_that_went_away_is_logged_as_cancelled(stack: Stack) -> None:
    request_id = f"cancel-{time.time_ns()}"
    with grpc.insecure_channel(stack.gateway_target) as channel:
        call = MusicServiceStub(channel).Compose(
            compose_request("techno 130", options=song_options(bars=32), bypass_cache=True),
            timeout=60,
            metadata=(("x-request-id", request_id),),
        )
        next(event for event in call if event.WhichOneof("event") == "audio_chunk")
        call.cancel()
    log = stack.log_dir / "gateway.log"

    def finished() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in log.read_text().splitlines() if request_id in line]
        return [line for line in lines if line.get("event") == "rpc"]

    # The log line is written as the gateway notices the cancellation.
    wait_until(finished, "the gateway logged the cancelled call")
    assert [line["code"] for line in finished()] == ["CANCELLED"]


def test_unary_calls_answer_with_their_request_id(stack: Stack) -> None:
    with grpc.insecure_channel(stack.gateway_target) as channel:
        stub = MusicServiceStub(channel)
        _, call = stub.GenerateMidi.with_call(
            pb.GenerateMidiRequest(prompt="pop", options=song_options(bars=1)), metadata=(("x-request-id", "mine-1"),)
        )
        assert ("x-request-id", "mine-1") in call.trailing_metadata()
        with pytest.raises(grpc.RpcError) as caught:
            stub.GenerateMidi(pb.GenerateMidiRequest(prompt=" "), metadata=(("x-request-id", "mine-2"),))
        assert ("x-request-id", "mine-2") in caught.value.trailing_metadata()


def test_a_frozen_redis_costs_a_bounded_wait_not_the_request(stack: Stack, client: MusicClient) -> None:
    redis_server = next(child.process for child in stack.children if child.name == "redis")
    request = compose_request("lofi 80", options=song_options(bars=1), stems=False, bypass_cache=True)
    redis_server.send_signal(signal.SIGSTOP)
    try:
        # Without the guard that then skips Redis, each call would wait out Redis's socket timeout three or four
        # times and miss this deadline.
        with MusicClient(stack.gateway_target, timeout=6) as hurried:
            for seed in range(3):
                request.options.seed = seed
                assert hurried.compose(request).mix.size
    finally:
        redis_server.send_signal(signal.SIGCONT)
    assert client.health() == "SERVING"


def test_the_client_library_imports_without_server_dependencies() -> None:
    script = (
        "import sys, clients.client, clients.cli;"
        "heavy = {'tritonclient', 'fluidsynth', 'redis', 'torch', 'onnxruntime', 'structlog', 'mido',"
        " 'pydantic_settings'};"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
