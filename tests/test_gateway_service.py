"""MusicService through its real gRPC API, in process, on FakeModels (tests/fake_models.py) and fakeredis: the
gateway's validation, sequencing, caching and error mapping in seconds, with neither Triton nor Redis."""

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import fakeredis
import grpc
import mido
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.client import AsyncMusicClient, compose_request, song_options
from clients.errors import DgxMusicError
from deploy.settings import Settings
from dgxmusic.models import DEMUCS, FLUIDSYNTH, MUSICGEN, TEXT2MIDI, Musicgen
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.music_service_pb2_grpc import MusicServiceStub
from fake_models import DEMUCS_STEMS, FakeModels, tone
from gateway.health import SERVICE_NAME, watch_models
from gateway.server import Gateway, build

INVALID = grpc.StatusCode.INVALID_ARGUMENT
TOO_LARGE = grpc.StatusCode.RESOURCE_EXHAUSTED
# Not a local Triton: ListModels then reads no model memory from /proc. Small chunks: audio streams in several.
# An upload silent for a second is closed (nothing here pauses an upload but the test of it).
SETTINGS = Settings(triton_url="fake-models:8001", metrics_port=0, chunk_bytes=64 * 1024, upload_idle_seconds=1.0)


@dataclass(frozen=True)
class Running:
    gateway: Gateway
    models: FakeModels
    redis: fakeredis.FakeAsyncRedis
    client: AsyncMusicClient

    @property
    def stub(self) -> Any:
        return MusicServiceStub(self.client.channel)


@pytest.fixture(scope="module")
async def running() -> AsyncIterator[Running]:
    models = FakeModels(SETTINGS)
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    gateway = await build(SETTINGS, models, redis)
    port = gateway.server.add_insecure_port("127.0.0.1:0")
    await gateway.server.start()
    client = AsyncMusicClient(f"127.0.0.1:{port}", timeout=60)
    try:
        yield Running(gateway, models, redis, client)
    finally:
        await client.close()
        await gateway.server.stop(grace=None)
        await models.close()
        await redis.aclose()


async def events_of(call: Any) -> list[Any]:
    return [event async for event in call]


async def failure_of(call: Any) -> DgxMusicError:
    with pytest.raises(DgxMusicError) as caught:
        await call
    return caught.value


# -- GenerateMidi ----------------------------------------------------------------------------------------------


async def test_generate_midi_answers_each_prompt_and_its_variations_in_order(running: Running) -> None:
    request = pb.GenerateMidiRequest(
        prompt="house 124, A minor", more_prompts=["dubstep 140"], variations=2, options=song_options(bars=1, seed=5)
    )
    songs = await running.client.generate_songs(request)
    assert [s.info.genre for s in songs] == ["house", "house", "dubstep", "dubstep"]
    assert [s.info.seed for s in songs] == [5, 6, 5, 6]
    assert all(s.midi.startswith(b"MThd") and s.info.bars == 1 for s in songs)
    assert songs[0].info.key == "A minor"
    assert songs[0].midi != songs[1].midi


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        pytest.param(pb.GenerateMidiRequest(prompt=" "), INVALID, "prompt", id="empty prompt"),
        pytest.param(
            pb.GenerateMidiRequest(prompt="trap", options=song_options(bpm=0)), INVALID, "options.bpm", id="bpm 0"
        ),
        pytest.param(pb.GenerateMidiRequest(prompt="trap", variations=17), INVALID, "variations", id="17 variations"),
        # Checked by the text2midi model as it parses the prompt: the error comes back in-band.
        pytest.param(pb.GenerateMidiRequest(prompt="trap, 900 bars"), TOO_LARGE, "prompt", id="900 bars"),
        pytest.param(
            pb.GenerateMidiRequest(prompt="trap", options=song_options(key="H major")),
            INVALID,
            "options.key",
            id="unknown key",
        ),
        pytest.param(
            pb.GenerateMidiRequest(prompt="trap", more_prompts=["house, 900 bars"]),
            INVALID,
            "more_prompts[0]",
            id="900 bars in a second prompt",
        ),
    ],
)
async def test_a_bad_song_request_names_the_field(
    running: Running, request_: pb.GenerateMidiRequest, code: grpc.StatusCode, field: str
) -> None:
    error = await failure_of(running.client.generate_songs(request_))
    assert error.code == code, error
    assert [v.field for v in error.violations] == [field]


# -- Compose and Render ----------------------------------------------------------------------------------------


async def test_compose_streams_progress_the_midi_each_audio_stream_then_the_summary(running: Running) -> None:
    request = compose_request("minimal techno 128", options=song_options(bars=2, seed=1), bypass_cache=True)
    events = await events_of(running.stub.Compose(request))
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[:4] == ["progress", "midi", "progress", "progress"]
    assert [events[0].progress.stage, events[2].progress.stage] == [pb.STAGE_COMPOSING, pb.STAGE_RENDERING]
    assert kinds[-2:] == ["progress", "summary"]
    assert kinds.count("summary") == 1

    # Each stream: a progress naming it, its header, then its chunks; the mix first, then one stem per track.
    tracks = [track.name for track in events[1].midi.info.tracks]
    streams = [event.audio_header.stem_name for event in events if event.HasField("audio_header")]
    assert streams == ["", *tracks]
    for name in streams:
        header = next(
            i for i, e in enumerate(events) if e.HasField("audio_header") and e.audio_header.stem_name == name
        )
        assert events[header - 1].progress.message == f"sending {name or 'mix'}"
        assert events[header + 1].HasField("audio_chunk")
        assert events[header + 2].HasField("audio_chunk")

    fractions = [event.progress.fraction for event in events if event.HasField("progress")]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    summary = events[-1].summary
    assert not summary.cache_hit
    assert {t.stage for t in summary.stage_timings} >= {pb.STAGE_COMPOSING, pb.STAGE_RENDERING, pb.STAGE_STREAMING}


async def test_a_repeated_compose_is_a_cache_hit_that_calls_no_model(running: Running) -> None:
    request = compose_request("boom bap 90 with jazz piano", options=song_options(bars=1, seed=3))
    first = await running.client.compose(request)
    calls = running.models.calls.copy()
    repeat = await running.client.compose(request)
    assert not first.summary.cache_hit
    assert repeat.summary.cache_hit
    assert {t.stage for t in repeat.summary.stage_timings} == {pb.STAGE_CACHE}
    assert running.models.calls == calls
    assert repeat.midi == first.midi
    assert repeat.stems.keys() == first.stems.keys()
    np.testing.assert_array_equal(repeat.mix, first.mix)


async def test_render_sends_stems_that_add_up_to_the_mix_at_the_asked_rate(running: Running) -> None:
    song = await running.client.generate_midi("synthwave 100, D minor", song_options(bars=1, seed=2))
    request = pb.RenderRequest(midi=song.midi, stems=True, audio_format=audio_pb2.AudioFormat(sample_rate=22050))
    rendered = await running.client.render(request)
    assert rendered.sample_rate == 22050
    assert rendered.mix.shape[1] == 2
    assert rendered.mix.shape[0] >= song.info.duration_seconds * 22050
    assert set(rendered.stems) == {track.name for track in song.info.tracks}
    np.testing.assert_allclose(sum(rendered.stems.values()), rendered.mix, atol=1e-5)


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        pytest.param(pb.RenderRequest(midi=b""), INVALID, "midi", id="empty MIDI"),
        # Refused by the fluidsynth model as it parses the file: the error comes back in-band.
        pytest.param(pb.RenderRequest(midi=b"MThd not a MIDI file" * 10), INVALID, "midi", id="garbage MIDI"),
    ],
)
async def test_a_bad_render_request_names_the_field(
    running: Running, request_: pb.RenderRequest, code: grpc.StatusCode, field: str
) -> None:
    error = await failure_of(running.client.render(request_))
    assert error.code == code, error
    assert [v.field for v in error.violations] == [field]


async def test_an_unknown_soundfont_is_refused_by_the_model_naming_soundfont(running: Running) -> None:
    request = compose_request("trap 140", options=song_options(bars=1), soundfont="NoSuchFont", bypass_cache=True)
    error = await failure_of(running.client.compose(request))
    assert error.code == INVALID
    assert [v.field for v in error.violations] == ["soundfont"]
    assert "NoSuchFont" in error.message


# -- Transcribe, Separate, GenerateAudio -----------------------------------------------------------------------


def midi_pitches(midi: bytes, track_name: str) -> set[int]:
    song = mido.MidiFile(file=io.BytesIO(midi))
    track = next(track for track in song.tracks if track.name == track_name)
    return {message.note for message in track if message.type == "note_on" and message.velocity > 0}


async def test_transcribe_hears_the_notes_of_a_rendered_song(running: Running) -> None:
    composed = await running.client.compose(
        compose_request("house 124, A minor", options=song_options(bars=4, seed=4), bypass_cache=True)
    )
    progress: list[pb.Progress] = []
    result = await running.client.transcribe(
        (composed.stems["Lead"], composed.sample_rate), on_progress=progress.append
    )
    heard = {note.pitch for note in result.transcription.notes}
    assert heard
    assert heard <= midi_pitches(composed.midi, "Lead")
    assert result.transcription.midi.startswith(b"MThd")
    assert [p.stage for p in progress][:2] == [pb.STAGE_RECEIVING, pb.STAGE_TRANSCRIBING]
    assert progress[-1].fraction == 1.0


async def test_compose_chains_separation_transcription_and_generation_after_the_song(running: Running) -> None:
    request = compose_request("synthwave 100", options=song_options(bars=1, seed=6), stems=False, bypass_cache=True)
    request.separate, request.transcribe, request.musicgen = DEMUCS, True, MUSICGEN
    progress: list[pb.Progress] = []
    result = await running.client.compose(request, on_progress=progress.append)
    assert set(result.stems) == {f"{DEMUCS}/{stem}" for stem in DEMUCS_STEMS} | {MUSICGEN}
    pitched = {track.name for track in result.info.tracks if not track.is_drum}
    assert set(result.transcriptions) == pitched
    stages = [p.stage for p in progress]
    assert stages.index(pb.STAGE_SEPARATING) < stages.index(pb.STAGE_TRANSCRIBING) < stages.index(pb.STAGE_GENERATING)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0


async def test_separate_streams_progress_then_the_stems_at_the_asked_rate(running: Running) -> None:
    upload = np.repeat(tone(440.0, 1.0, 16000), 2, axis=1)
    options = pb.SeparationOptions(audio_format=audio_pb2.AudioFormat(sample_rate=24000))
    progress: list[pb.Progress] = []
    separated = await running.client.separate((upload, 16000), options, on_progress=progress.append)
    assert set(separated.stems) == set(DEMUCS_STEMS)
    assert separated.sample_rate == 24000
    assert {stem.shape for stem in separated.stems.values()} == {(24000, 2)}
    assert pb.STAGE_SEPARATING in {p.stage for p in progress}
    assert progress[-1].fraction == 1.0


async def test_generate_audio_streams_token_progress_then_a_clip_per_prompt(running: Running) -> None:
    request = pb.GenerateAudioRequest(prompt="warm pads", more_prompts=["dry drums"], seconds=0.5, seed=1)
    progress: list[pb.Progress] = []
    generated = await running.client.generate_audio(request, on_progress=progress.append)
    assert generated.sample_rate == Musicgen.SAMPLE_RATE
    assert {name: clip.shape[0] for name, clip in generated.stems.items()} == {"0": 16000, "1": 16000}
    assert not np.array_equal(generated.stems["0"], generated.stems["1"])
    tokens = [(p.done, p.total) for p in progress if p.stage == pb.STAGE_GENERATING and p.total]
    assert tokens == [(12, 25), (25, 25)]


# -- ListModels and health -------------------------------------------------------------------------------------


async def test_list_models_reports_each_state_and_missing_weights(running: Running) -> None:
    models = running.models
    models.missing_weights[MUSICGEN] = "weights of musicgen-small are missing; fetch them"
    models.states[DEMUCS] = ("UNAVAILABLE", "failed to load: out of memory")
    try:
        listed = {status.name: status for status in await running.client.list_models()}
    finally:
        del models.missing_weights[MUSICGEN]
        models.states[DEMUCS] = ("READY", "")
    assert listed[TEXT2MIDI].state == pb.MODEL_STATE_READY
    assert listed[MUSICGEN].state == pb.MODEL_STATE_WEIGHTS_MISSING
    assert "fetch them" in listed[MUSICGEN].message
    assert listed[DEMUCS].state == pb.MODEL_STATE_FAILED
    assert "out of memory" in listed[DEMUCS].message


async def test_health_follows_the_readiness_of_the_models(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.client.channel)

    async def status_turns(wanted: int) -> None:
        call = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        try:
            async for reply in call:
                if reply.status == wanted:
                    return
        finally:
            call.cancel()

    watcher = asyncio.create_task(watch_models(running.gateway.health, running.models, SETTINGS.models, 0.01))
    try:
        async with asyncio.timeout(30):
            await status_turns(health_pb2.HealthCheckResponse.SERVING)
            running.models.states[DEMUCS] = ("UNAVAILABLE", "unloaded")
            await status_turns(health_pb2.HealthCheckResponse.NOT_SERVING)
    finally:
        running.models.states[DEMUCS] = ("READY", "")
        watcher.cancel()


# -- model failures --------------------------------------------------------------------------------------------


async def test_missing_weights_fail_the_call_with_failed_precondition(running: Running) -> None:
    running.models.missing_weights[DEMUCS] = "weights of demucs model 'htdemucs' are missing"
    try:
        error = await failure_of(running.client.separate((tone(440.0, 0.5, 16000), 16000)))
    finally:
        del running.models.missing_weights[DEMUCS]
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.message == "model demucs: weights of demucs model 'htdemucs' are missing"


async def test_silence_is_refused_by_the_separator_naming_the_audio(running: Running) -> None:
    error = await failure_of(running.client.separate((np.zeros((16000, 2), np.float32), 16000)))
    assert error.code == INVALID
    assert [v.field for v in error.violations] == ["audio"]


async def test_an_upload_that_goes_silent_is_closed(running: Running) -> None:
    released = asyncio.Event()

    async def header_then_silence() -> AsyncIterator[pb.TranscribeRequest]:
        yield pb.TranscribeRequest(audio_header=audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV))
        await released.wait()  # the client neither sends nor ends the stream

    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await events_of(running.stub.Transcribe(header_then_silence(), timeout=60))
    finally:
        released.set()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "nothing arrived for 1 s" in str(caught.value.details())


@pytest.mark.parametrize(("declared", "sent"), [(100, 50), (100, 150)])
async def test_an_upload_must_carry_the_bytes_its_header_declared(running: Running, declared: int, sent: int) -> None:
    async def upload() -> AsyncIterator[pb.TranscribeRequest]:
        header = audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV, total_bytes=declared)
        yield pb.TranscribeRequest(audio_header=header)
        yield pb.TranscribeRequest(audio_chunk=audio_pb2.AudioChunk(data=b"x" * sent, last=True))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await events_of(running.stub.Transcribe(upload(), timeout=60))
    assert caught.value.code() == INVALID
    assert "audio_header.total_bytes" in str(caught.value.details())


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", grpc.StatusCode.UNAVAILABLE),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", grpc.StatusCode.DEADLINE_EXCEEDED),
        (grpc.StatusCode.UNAVAILABLE, "Request timeout expired", grpc.StatusCode.DEADLINE_EXCEEDED),
        (grpc.StatusCode.INTERNAL, "text2midi failed unexpectedly", grpc.StatusCode.INTERNAL),
    ],
)
async def test_a_failed_model_call_gets_its_status_naming_the_model(
    running: Running, code: grpc.StatusCode, message: str, expected: grpc.StatusCode
) -> None:
    running.models.fail_next(TEXT2MIDI, code, message)
    error = await failure_of(running.client.generate_midi("trap 140", song_options(bars=1)))
    assert error.code == expected
    assert "text2midi" in error.message


async def test_a_render_that_fails_ends_the_compose_stream_with_its_status(running: Running) -> None:
    running.models.fail_next(FLUIDSYNTH, grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    progress: list[pb.Progress] = []
    request = compose_request("trap 140", options=song_options(bars=1), bypass_cache=True)
    with pytest.raises(DgxMusicError) as caught:
        await running.client.compose(request, on_progress=progress.append)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert "fluidsynth" in caught.value.message
    assert [p.stage for p in progress] == [pb.STAGE_COMPOSING, pb.STAGE_RENDERING]
