"""Nothing computed is thrown away, on FakeModels (tests/fake_models.py): a Compose (or a GenerateAudio following a
MIDI melody) whose later stage's model cannot run is refused before any work, naming the field, the model's state
and what fixes it; a stage failing after earlier ones streamed their results leaves those delivered, the failure
told beside them (a StageError event, the Summary's failed stages, then the stage's status), the stages that do
not need it still run, and nothing partial is cached."""

import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import fakeredis
import grpc
import pytest

from clients.client import AsyncMusicClient, ComposeResult, compose_request, song_options
from clients.errors import DgxMusicError
from deploy.settings import Settings
from dgxmusic.errors import TooLarge
from dgxmusic.models import BASIC_PITCH, DEMUCS, FLUIDSYNTH, MUSICGEN, TEXT2MIDI, encode_error
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.music_service_pb2_grpc import MusicServiceStub
from fake_models import DEMUCS_STEMS, FakeModels
from gateway.server import build

SETTINGS = Settings(triton_url="fake-models:8001", metrics_port=0, chunk_bytes=64 * 1024)
MISSING = (
    "weights of demucs model 'htdemucs' are missing (in /w: a.th); fetch them with `dgx-music models pull htdemucs` "
    "on a machine with network access"
)


@dataclasses.dataclass(frozen=True)
class Running:
    models: FakeModels
    client: AsyncMusicClient


async def start(settings: Settings) -> AsyncIterator[Running]:
    models = FakeModels(settings)
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    gateway = await build(settings, models, redis)
    port = gateway.server.add_insecure_port("127.0.0.1:0")
    await gateway.server.start()
    client = AsyncMusicClient(f"127.0.0.1:{port}", timeout=60)
    try:
        yield Running(models, client)
    finally:
        await client.close()
        await gateway.server.stop(grace=None)
        await models.close()
        await redis.aclose()


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    """A gateway of each test's own: what one test breaks in its models (and what readiness remembers) stays its."""
    async for started in start(SETTINGS):
        yield started


def song(*, separate: str = "", transcribe: bool = False, musicgen: str = "") -> pb.ComposeRequest:
    request = compose_request("funk 100 BPM", options=song_options(bars=1, seed=3), bypass_cache=True)
    request.separate, request.transcribe, request.musicgen = separate, transcribe, musicgen
    return request


async def failure_of(call: object) -> DgxMusicError:
    with pytest.raises(DgxMusicError) as caught:
        await call  # type: ignore[misc]  # an awaitable call of the client
    return caught.value


@contextmanager
def no_work(models: FakeModels) -> Iterator[None]:
    """Nothing was sent to any model inside (the weights probe is no inference)."""
    before = dict(models.calls)
    yield
    assert dict(models.calls) == before


# -- refused before any work -------------------------------------------------------------------------------------


async def test_compose_separating_with_demucs_weights_missing_is_refused_before_composing(running: Running) -> None:
    running.models.missing_weights[DEMUCS] = MISSING
    with no_work(running.models):
        error = await failure_of(running.client.compose(song(separate="demucs", transcribe=True)))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert [v.field for v in error.violations] == ["separate"]
    assert error.message.startswith("separate: model demucs: weights of demucs model 'htdemucs' are missing")
    assert "dgx-music models pull htdemucs" in error.message
    assert error.partial_result is None


async def test_compose_with_musicgen_weights_missing_is_refused_naming_musicgen(running: Running) -> None:
    running.models.missing_weights[MUSICGEN] = "weights of musicgen-small are missing; fetch them"
    with no_work(running.models):
        error = await failure_of(running.client.compose(song(musicgen="musicgen")))
    assert (error.code, [v.field for v in error.violations]) == (grpc.StatusCode.FAILED_PRECONDITION, ["musicgen"])


@pytest.mark.parametrize(
    ("reason", "code", "says"),
    [
        pytest.param(
            "unloaded", grpc.StatusCode.UNAVAILABLE, "is not ready (UNAVAILABLE: unloaded); retry", id="unloaded"
        ),
        pytest.param(
            "failed to load: out of memory",
            grpc.StatusCode.FAILED_PRECONDITION,
            "failed to load (UNAVAILABLE: failed to load: out of memory); see `dgx-music models list`",
            id="failed to load",
        ),
    ],
)
async def test_compose_transcribing_on_a_model_not_ready_says_its_state(
    running: Running, reason: str, code: grpc.StatusCode, says: str
) -> None:
    running.models.states[BASIC_PITCH] = ("UNAVAILABLE", reason)
    with no_work(running.models):
        error = await failure_of(running.client.compose(song(transcribe=True)))
    assert (error.code, [v.field for v in error.violations]) == (code, ["transcribe"])
    assert says in error.message


async def test_a_model_the_server_does_not_run_is_refused_saying_how_to_run_it() -> None:
    served = [TEXT2MIDI, FLUIDSYNTH, BASIC_PITCH]
    async for running in start(SETTINGS.model_copy(update={"models": served})):
        running.models.states[DEMUCS] = ("UNAVAILABLE", "unloaded")
        with no_work(running.models):
            error = await failure_of(running.client.compose(song(separate="demucs")))
        assert (error.code, [v.field for v in error.violations]) == (grpc.StatusCode.FAILED_PRECONDITION, ["separate"])
        assert "not run by this server (it runs text2midi, fluidsynth, basic_pitch)" in error.message
        assert "DGXMUSIC_MODELS" in error.message


async def test_generate_following_a_midi_melody_is_refused_before_rendering_it(running: Running) -> None:
    midi = (await running.client.generate_midi("pop", song_options(bars=1))).midi
    running.models.missing_weights[MUSICGEN] = "weights of musicgen-melody are missing; fetch them"
    with no_work(running.models):
        error = await failure_of(running.client.generate_audio(pb.GenerateAudioRequest(prompt="pop", melody_midi=midi)))
    assert (error.code, [v.field for v in error.violations]) == (grpc.StatusCode.FAILED_PRECONDITION, ["model"])


async def test_a_cached_song_needs_no_model_ready(running: Running) -> None:
    request = song(separate="demucs")
    request.bypass_cache = False
    await running.client.compose(request)
    running.models.missing_weights[DEMUCS] = MISSING
    cached = await running.client.compose(request)
    assert cached.summary.cache_hit


# -- a later stage failing at run time ---------------------------------------------------------------------------


async def test_separation_failing_after_the_song_streamed_keeps_the_song_and_runs_transcription(
    running: Running,
) -> None:
    running.models.fail_next(DEMUCS, grpc.StatusCode.INTERNAL, "demucs fell over")
    error = await failure_of(running.client.compose(song(separate="demucs", transcribe=True)))
    assert error.code == grpc.StatusCode.INTERNAL
    assert error.message == "model demucs: demucs fell over"
    kept = error.partial_result
    assert isinstance(kept, ComposeResult)
    assert kept.midi.startswith(b"MThd")
    assert kept.mix.shape[0] > 0
    assert set(kept.stems) == {track.name for track in kept.info.tracks}  # no demucs/ stems
    pitched = {track.name for track in kept.info.tracks if not track.is_drum}
    assert set(kept.transcriptions) == pitched  # the stage after the failed one still ran
    (failed,) = kept.failed_stages
    assert (failed.stage, failed.field, failed.code) == (
        pb.STAGE_SEPARATING,
        "separate",
        grpc.StatusCode.INTERNAL.value[0],
    )
    assert failed.message == error.message
    assert list(kept.summary.failed_stages) == [failed]


async def test_the_stream_tells_the_failed_stage_then_the_summary_then_its_status(running: Running) -> None:
    """What any client sees, the typed one or not: an older client, knowing no StageError, gets the results and
    then the status the stage failed with, as it did before."""
    running.models.fail_next(DEMUCS, grpc.StatusCode.UNAVAILABLE, "Stub process is not healthy.")
    stub = MusicServiceStub(running.client.channel)
    call = stub.Compose(song(separate="demucs"), timeout=60)
    kinds = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # noqa: PT012 - the events come before the error
        async for event in call:
            kinds.append(event.WhichOneof("event"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    results = [kind for kind in kinds if kind != "progress"]
    assert results[0] == "midi"
    assert results[-2:] == ["stage_error", "summary"]
    assert "audio_header" in results[: results.index("stage_error")]


async def test_a_failed_rendering_keeps_the_midi(running: Running) -> None:
    running.models.fail_next(FLUIDSYNTH, grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    error = await failure_of(running.client.compose(song(separate="demucs")))
    assert error.code == grpc.StatusCode.UNAVAILABLE
    kept = error.partial_result
    assert isinstance(kept, ComposeResult)
    assert kept.midi.startswith(b"MThd")
    assert not kept.stems
    assert kept.mix.shape[0] == 0
    assert [(f.stage, f.field) for f in kept.failed_stages] == [(pb.STAGE_RENDERING, "")]
    assert running.models.calls[DEMUCS] == 0  # separation needs the audio that was not made


async def test_musicgen_failing_keeps_the_separated_stems(running: Running) -> None:
    running.models.fail_next(MUSICGEN, grpc.StatusCode.INTERNAL, "out of memory")
    error = await failure_of(running.client.compose(song(separate="demucs", musicgen="musicgen")))
    kept = error.partial_result
    assert isinstance(kept, ComposeResult)
    assert {f"demucs/{stem}" for stem in DEMUCS_STEMS} <= set(kept.stems)
    assert "musicgen" not in kept.stems
    assert [(f.stage, f.field) for f in kept.failed_stages] == [(pb.STAGE_GENERATING, "musicgen")]


async def test_a_partial_result_is_never_cached(running: Running) -> None:
    request = song(separate="demucs")
    request.bypass_cache = False
    running.models.fail_next(DEMUCS, grpc.StatusCode.INTERNAL, "demucs fell over")
    await failure_of(running.client.compose(request))
    whole = await running.client.compose(request)
    assert not whole.summary.cache_hit
    assert not whole.failed_stages
    assert {f"demucs/{stem}" for stem in DEMUCS_STEMS} <= set(whole.stems)


async def test_a_stage_refusing_the_song_s_audio_names_the_field_that_asked_for_it(running: Running) -> None:
    """The audio a later stage refuses is the song's, not the client's: its error names `separate`, not `audio`."""
    encoded = encode_error(TooLarge("audio", "is 9.0 s long, over the limit of 1 s"))
    assert encoded is not None
    running.models.fail_next(DEMUCS, grpc.StatusCode.INVALID_ARGUMENT, encoded[0])
    error = await failure_of(running.client.compose(song(separate="demucs")))
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.message == "separate: the song's audio is 9.0 s long, over the limit of 1 s"
    assert [v.field for v in error.violations] == ["separate"]
    kept = error.partial_result
    assert isinstance(kept, ComposeResult)
    assert [(f.field, list(f.fields), f.message) for f in kept.failed_stages] == [
        ("separate", ["separate"], error.message)
    ]
