"""JobService through its real gRPC API, in process, on FakeModels and a redis-server of its own (jobs lean on Redis
streams, WATCH and blocking reads, whose cancellation fakeredis does not model faithfully), with the gateway's own job
runner:
submission checks, results equal to the plain RPC's, retries, cancellation, a dead runner's jobs taken over, owners,
checksums. tests/test_stack_jobs.py runs jobs through the real stack, with real crashes."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError

from clients.client import (
    AsyncMusicClient,
    AudioResult,
    ComposeResult,
    TranscribeResult,
    compose_request,
    job_request,
    song_options,
)
from clients.errors import DgxMusicError, InvalidRequestError, NotFoundError, RateLimitedError
from deploy.settings import ApiKey, Settings
from dgxmusic.models import FLUIDSYNTH, TEXT2MIDI
from dgxmusic.v1 import jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from fake_models import FakeModels, tone
from gateway.artifacts import Artifact, ArtifactStore
from gateway.auth import key_hash
from gateway.job_runner import JobRunner, _Run
from gateway.jobs import JobStore
from gateway.server import Gateway, build

# It runs a redis-server: not in `pytest -m "not stack"`, which runs without Triton or Redis.
pytestmark = pytest.mark.stack

ALICE, BOB, CAROL = "dgxm_alice-test-key", "dgxm_bob-test-key", "dgxm_carol-test-key"
KEYS = {
    "alice": ApiKey(hash=key_hash(ALICE), burst=1000),
    "bob": ApiKey(hash=key_hash(BOB), burst=1000),
    "carol": ApiKey(hash=key_hash(CAROL), burst=1000, requests_per_day=2),
}


@dataclass(frozen=True)
class Running:
    gateway: Gateway
    models: FakeModels
    redis: redis_asyncio.Redis
    settings: Settings
    alice: AsyncMusicClient
    bob: AsyncMusicClient
    target: str


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory, redis_port: int) -> AsyncIterator[Running]:
    settings = Settings(
        triton_url="fake-models:8001",
        metrics_port=0,
        chunk_bytes=64 * 1024,
        api_keys=KEYS,
        artifact_dir=tmp_path_factory.mktemp("artifacts"),
        job_lease_seconds=1.5,
        redis_timeout_seconds=0.4,
        health_poll_seconds=0.1,
    )
    models = FakeModels(settings)
    # As the gateway's own: a client with a socket timeout, and one for the blocking reads without.
    redis, blocking = (redis_asyncio.Redis(port=redis_port, socket_timeout=timeout) for timeout in (5.0, None))
    for _ in range(100):
        with contextlib.suppress(RedisError):
            await redis.ping()
            break
        await asyncio.sleep(0.05)
    gateway = await build(settings, models, redis, blocking)
    gateway_port = gateway.server.add_insecure_port("127.0.0.1:0")
    await gateway.server.start()
    runner = asyncio.create_task(gateway.runner.run())
    target = f"127.0.0.1:{gateway_port}"
    alice = AsyncMusicClient(target, timeout=60, api_key=ALICE)
    bob = AsyncMusicClient(target, timeout=60, api_key=BOB)
    try:
        yield Running(gateway, models, redis, settings, alice, bob, target)
    finally:
        await stopped(runner)
        await gateway.runner.stop()
        for client in (alice, bob):
            await client.close()
        await gateway.server.stop(grace=None)
        await models.close()
        await redis.aclose()
        await blocking.aclose()


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def short_song(
    prompt: str = "house 124, A minor", *, stems: bool = False, bypass_cache: bool = False
) -> pb.ComposeRequest:
    return compose_request(prompt, options=song_options(bars=1, seed=3), stems=stems, bypass_cache=bypass_cache)


async def test_a_compose_job_gives_what_compose_gives(running: Running) -> None:
    request = short_song(stems=True)
    job = await running.alice.submit_job(job_request(request))
    assert job.state == jobs_pb2.JOB_STATE_QUEUED
    assert job.kind == "Compose"
    assert job.description == request.prompt
    seen: list[int] = []
    outcome = await running.alice.watch_job(job.id, on_job=lambda snapshot: seen.append(snapshot.state))
    assert outcome.succeeded, outcome.job
    assert outcome.job.attempts == 1
    assert outcome.job.result_bytes > 0
    assert seen[-1] == jobs_pb2.JOB_STATE_SUCCEEDED
    direct = await running.alice.compose(request)
    assert isinstance(outcome.result, ComposeResult)
    assert outcome.result.midi == direct.midi
    np.testing.assert_array_equal(outcome.result.mix, direct.mix)
    assert outcome.result.stems.keys() == direct.stems.keys()
    assert outcome.result.summary.request_id == job.id
    # Read again, the same results: they are kept.
    again = await running.alice.watch_job(job.id)
    assert isinstance(again.result, ComposeResult)
    np.testing.assert_array_equal(again.result.mix, direct.mix)


async def test_a_transcribe_job_takes_its_audio_with_it(running: Running) -> None:
    audio = np.repeat(tone(440.0, 1.0, 22050), 2, axis=1)
    job = await running.alice.submit_job(job_request(pb.TranscriptionOptions()), (audio, 22050))
    assert job.kind == "Transcribe"
    assert "bytes" in job.description
    outcome = await running.alice.watch_job(job.id)
    assert outcome.succeeded, outcome.job
    assert isinstance(outcome.result, TranscribeResult)
    assert 69 in {note.pitch for note in outcome.result.transcription.notes}


async def test_an_unseeded_generation_gets_its_seed_at_submission(running: Running) -> None:
    job = await running.alice.submit_job(job_request(pb.GenerateAudioRequest(prompt="lofi", seconds=1)))
    record = await running.gateway.runner.store.get(job.id, with_request=True)
    assert record.request.generate_audio.HasField("seed")
    outcome = await running.alice.watch_job(job.id)
    assert outcome.succeeded
    assert isinstance(outcome.result, AudioResult)
    assert outcome.result.stems["0"].shape[0] == 32000


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([jobs_pb2.SubmitJobRequest(request=job_request(pb.ComposeRequest(prompt=" ")))], "request.compose.prompt"),
        ([jobs_pb2.SubmitJobRequest(request=jobs_pb2.JobRequest())], "request"),
        ([], "request"),
        (
            [
                jobs_pb2.SubmitJobRequest(request=job_request(pb.RenderRequest(midi=b"MThd"))),
                jobs_pb2.SubmitJobRequest(audio_chunk={"data": b"x", "last": True}),
            ],
            "audio_header",
        ),
        ([jobs_pb2.SubmitJobRequest(request=job_request(pb.TranscriptionOptions()))], "audio"),
        (
            [
                jobs_pb2.SubmitJobRequest(request=job_request(pb.TranscriptionOptions(onset_threshold=2))),
                jobs_pb2.SubmitJobRequest(audio_header={"total_bytes": 4}),
            ],
            "request.transcribe.onset_threshold",
        ),
    ],
    ids=["empty prompt", "no kind", "nothing", "audio for a render", "no audio", "bad transcription option"],
)
async def test_a_bad_job_is_refused_at_submission_with_its_field(
    running: Running, messages: list[jobs_pb2.SubmitJobRequest], field: str
) -> None:
    before = await running.redis.zcard("dgxmusic:jobs:expiry")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.alice.jobs.SubmitJob(iter(messages), metadata=running.alice.metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    assert field in str(caught.value.details())
    assert await running.redis.zcard("dgxmusic:jobs:expiry") == before  # no job was made


async def test_a_run_that_met_an_unavailable_model_is_run_again(running: Running) -> None:
    running.models.fail_next(FLUIDSYNTH, grpc.StatusCode.UNAVAILABLE, "Stub process is not healthy.")
    job = await running.alice.submit_job(job_request(short_song("techno 130", bypass_cache=True)))
    outcome = await running.alice.watch_job(job.id)
    assert outcome.succeeded, outcome.job
    assert outcome.job.attempts == 2
    assert outcome.job.error_code == ""


async def test_a_job_refused_by_its_model_fails_once_with_the_reason(running: Running) -> None:
    running.models.fail_next(TEXT2MIDI, grpc.StatusCode.INVALID_ARGUMENT, "prompt: nothing to compose")
    job = await running.alice.submit_job(job_request(short_song("ambient", bypass_cache=True)))
    outcome = await running.alice.watch_job(job.id)
    assert outcome.job.state == jobs_pb2.JOB_STATE_FAILED
    assert outcome.job.attempts == 1
    assert outcome.job.error_code == "INVALID_ARGUMENT"
    assert outcome.result is None


async def test_a_cancelled_job_stops_its_work(running: Running) -> None:
    paused = running.models.pause(FLUIDSYNTH)
    try:
        job = await running.alice.submit_job(job_request(short_song("dub 70", bypass_cache=True)))
        await wait_for_state(running, job.id, jobs_pb2.JOB_STATE_RUNNING)
        cancelled = await running.alice.cancel_job(job.id)
        assert cancelled.state == jobs_pb2.JOB_STATE_CANCELLED
        outcome = await running.alice.watch_job(job.id)
        assert outcome.job.state == jobs_pb2.JOB_STATE_CANCELLED
        assert outcome.result is None
        # The runner stops the run within a lease renewal, and takes the job off its hands.
        for _ in range(100):
            if job.id not in running.gateway.runner.runs:
                break
            await asyncio.sleep(0.05)
        assert job.id not in running.gateway.runner.runs
    finally:
        paused.set()
    # Cancelling a finished job leaves it as it is.
    assert (await running.alice.cancel_job(job.id)).state == jobs_pb2.JOB_STATE_CANCELLED


async def test_a_job_whose_runner_died_is_taken_over(running: Running) -> None:
    """A second runner (another gateway) with its own name: the first is stopped mid-run without a word, as a
    crashed gateway would be, and the second takes the job once the lease lapses."""
    paused = running.models.pause(TEXT2MIDI)
    job = await running.alice.submit_job(job_request(short_song("drum and bass 174", bypass_cache=True)))
    await wait_for_state(running, job.id, jobs_pb2.JOB_STATE_RUNNING)
    first = running.gateway.runner
    await first.stop()  # cancels its runs without finishing them: the queue entry stays taken by `first`
    assert (await first.store.get(job.id)).job.state == jobs_pb2.JOB_STATE_RUNNING
    paused.set()
    second = JobRunner(running.settings, first.store, first.artifacts, first.service)
    took_over = asyncio.create_task(second.run())
    try:
        outcome = await asyncio.wait_for(running.alice.watch_job(job.id), 30)
    finally:
        await stopped(took_over)
        await second.stop()
    assert outcome.succeeded, outcome.job
    assert outcome.job.attempts == 2


async def test_stopping_cancels_again_a_run_that_lost_its_cancel(running: Running) -> None:
    """Python 3.11's asyncio.wait_for (under redis-py) can swallow a cancel: a run that goes on after one is cancelled
    again, and stop() ends (the takeover test above once hung on that, now and then)."""
    runner = JobRunner(
        running.settings, running.gateway.runner.store, running.gateway.runner.artifacts, running.gateway.runner.service
    )
    lost = asyncio.Event()

    async def losing_one_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            lost.set()
        await asyncio.sleep(3600)

    runner.runs["lost"] = _Run("0-0", asyncio.create_task(losing_one_cancel()))
    await asyncio.wait_for(runner.stop(), 10)
    assert lost.is_set()
    assert runner.runs["lost"].task.cancelled()


async def test_jobs_are_their_callers_own(running: Running) -> None:
    job = await running.alice.submit_job(job_request(short_song("jazz 90")))
    for call in (running.bob.get_job(job.id), running.bob.cancel_job(job.id), running.bob.watch_job(job.id)):
        with pytest.raises(NotFoundError):
            await call
    assert job.id not in {listed.id for listed in (await running.bob.list_jobs())[0]}
    assert (await running.alice.get_job(job.id)).id == job.id
    with pytest.raises(InvalidRequestError):
        await running.alice.get_job("../../etc/passwd")


async def test_list_jobs_pages_newest_first(running: Running) -> None:
    ids = [(await running.bob.submit_job(job_request(short_song(f"pop {bpm}")))).id for bpm in (100, 101, 102)]
    first, token = await running.bob.list_jobs(page_size=2)
    second, last = await running.bob.list_jobs(page_size=2, page_token=token)
    listed = [job.id for job in first + second]
    assert listed[:3] == ids[::-1]
    assert token
    assert not last
    with pytest.raises(InvalidRequestError):
        await running.bob.list_jobs(page_size=5000)


async def test_results_whose_checksum_does_not_match_are_not_served(running: Running) -> None:
    job = await running.alice.submit_job(job_request(short_song("trance 138")))
    assert (await running.alice.watch_job(job.id)).succeeded
    record = await running.gateway.runner.store.get(job.id)
    assert isinstance(record.result, Artifact)
    path = running.settings.artifact_dir / job.id / record.result.name
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DgxMusicError) as caught:
        await running.alice.watch_job(job.id)
    assert caught.value.code == grpc.StatusCode.DATA_LOSS


async def test_expired_jobs_and_their_files_are_deleted(running: Running, tmp_path: Path) -> None:
    store = JobStore(running.redis, retention_seconds=60, block_seconds=0.1)
    artifacts = ArtifactStore(tmp_path)
    job = await running.alice.submit_job(job_request(short_song("reggae 80")))
    assert (await running.alice.watch_job(job.id)).succeeded
    expire = (await store.get(job.id)).job.expire_time.ToSeconds()
    assert job.id not in await store.expired(expire - 1)
    assert job.id in await store.expired(expire + 1)
    await store.delete(job.id)
    with pytest.raises(NotFoundError):
        await running.alice.get_job(job.id)
    artifacts.writer("0" * 32, "input").commit()
    assert artifacts.stale(-1) == ["0" * 32]


async def test_a_keys_daily_quota_counts_what_it_makes_not_what_it_reads(running: Running) -> None:
    async with AsyncMusicClient(running.target, timeout=60, api_key=CAROL) as carol:
        job = await carol.submit_job(job_request(short_song("funk 110")))
        await carol.generate_midi("funk 110", song_options(bars=1))
        with pytest.raises(RateLimitedError) as refused:
            await carol.submit_job(job_request(short_song("funk 111")))
        assert "quota of 2 calls" in refused.value.message
        assert refused.value.retry_delay is not None
        assert 0 < refused.value.retry_delay <= 24 * 3600
        # Reading jobs and listing models are not counted.
        assert (await carol.watch_job(job.id)).succeeded
        assert (await carol.get_job(job.id)).id == job.id
        assert await carol.list_models()


async def wait_for_state(running: Running, job_id: str, state: int) -> None:
    for _ in range(200):
        if (await running.alice.get_job(job_id)).state == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached state {state}")
