"""Runs durable jobs: each gateway takes jobs off the queue (gateway.jobs), up to `job_workers` at a time, and runs
each through the MusicService RPC of its kind - the same stages, cache and checks as a call - writing its results
to the artifact store and its progress to Redis. A runner renews its lease on its jobs every few seconds; a job
whose runner stopped renewing (the gateway died) is taken over by the next runner that looks. A run cut short by a
model or Triton that was unavailable is run again once the models answer, at most `job_max_attempts` times; a
cancelled job's work stops at the runner's next renewal. A run whose later stage failed after earlier stages made
results (its Summary lists the failed stages) keeps those: the job fails with the stage's error, and its results so
far can still be read."""

import asyncio
import contextlib
import functools
import math
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog

from deploy.settings import Settings
from dgxmusic.v1 import audio_pb2, jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway import metrics, training
from gateway.artifacts import Artifact, ArtifactStore, CorruptArtifact
from gateway.cache import REDIS_FAILURES
from gateway.errors import ApiError
from gateway.jobs import KINDS, JobRecord, JobStore
from gateway.scope import STAGE_NAMES, RequestScope
from gateway.service import MusicService

log = structlog.get_logger(__name__)

# Progress is written at most this often (and on every change of stage): watchers need no more.
_PROGRESS_SECONDS = 0.25
_SWEEP_SECONDS = 60.0
_MAX_RETRY_WAIT_SECONDS = 30.0
# A run still going this long after it was cancelled is cancelled again (see _Run.cancel).
_CANCEL_AGAIN_SECONDS = 1.0


def retryable(error: ApiError) -> bool:
    """Whether a failed run may succeed if run again: something was unavailable, or said to retry."""
    return error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED) or error.retry_after is not None


@dataclass
class JobClock:
    """A job's deadline, as a call's context tells its stages theirs."""

    deadline: float  # time.monotonic()

    def time_remaining(self) -> float:
        return self.deadline - time.monotonic()


@dataclass
class _Run:
    entry: str
    task: asyncio.Task[None]
    cancelled: bool = False  # by its owner (CancelJob), not by the gateway stopping
    cancel_sent: float = -math.inf  # time.monotonic() of the last cancel

    def cancel(self) -> None:
        """Cancels the run's task, and again when an earlier cancel is _CANCEL_AGAIN_SECONDS old: one can be lost, as
        Python 3.11's asyncio.wait_for (which redis-py awaits) swallows a cancel that comes as its inner call ends."""
        now = time.monotonic()
        if not self.task.done() and now - self.cancel_sent >= _CANCEL_AGAIN_SECONDS:
            self.cancel_sent = now
            self.task.cancel()


@dataclass
class _Throttle:
    """Lets progress through at most every _PROGRESS_SECONDS, except when its stage changes."""

    stage: int = -1
    last: float = field(default=0.0)

    def due(self, progress: pb.Progress) -> bool:
        now = time.monotonic()
        if progress.stage != self.stage or now - self.last >= _PROGRESS_SECONDS:
            self.stage, self.last = progress.stage, now
            return True
        return False


class JobRunner:
    def __init__(self, settings: Settings, store: JobStore, artifacts: ArtifactStore, service: MusicService) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.service = service
        self.name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.runs: dict[str, _Run] = {}  # by job id
        self._slot_free = asyncio.Event()

    async def run(self) -> None:
        """Takes and runs jobs until cancelled (when the gateway stops: jobs it was running are left on the queue,
        for the next runner to take over)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._take_jobs())
            group.create_task(self._keep_leases())
            group.create_task(self._sweep())

    async def stop(self) -> None:
        """Cancels every run and waits until each has ended."""
        runs = list(self.runs.values())
        while pending := [run for run in runs if not run.task.done()]:
            for run in pending:
                run.cancel()
            await asyncio.wait([run.task for run in pending], timeout=_CANCEL_AGAIN_SECONDS)

    # -- loops ---------------------------------------------------------------------------------------------------

    async def _take_jobs(self) -> None:
        queue_ready = False
        while True:
            free = self.settings.job_workers - len(self.runs)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                if not queue_ready:
                    await self.store.ensure_queue()
                    queue_ready = True
                taken = await self.store.take(self.name, free, lease_seconds=self.settings.job_lease_seconds)
            except REDIS_FAILURES as exc:
                log.warning("jobs_unavailable", error=str(exc) or type(exc).__name__)
                await asyncio.sleep(self.settings.redis_retry_seconds or 1.0)
                continue
            for entry, job_id in taken:
                if job_id in self.runs:  # our own entry, delivered again
                    continue
                task = asyncio.create_task(self._run_job(entry, job_id), name=f"job {job_id}")
                self.runs[job_id] = _Run(entry, task)
                task.add_done_callback(functools.partial(self._ended, job_id))

    def _ended(self, job_id: str, task: asyncio.Task[None]) -> None:
        self.runs.pop(job_id, None)
        self._slot_free.set()

    async def _keep_leases(self) -> None:
        """Renews the lease on every job this runner runs, and stops those cancelled meanwhile."""
        while True:
            # Often enough that a cancelled job stops within a second, and a lease is renewed thrice per term.
            await asyncio.sleep(min(self.settings.job_lease_seconds / 3, 1.0))
            runs = dict(self.runs)
            try:
                await self.store.renew(self.name, [run.entry for run in runs.values()])
                for job_id, run in runs.items():
                    record = await self.store.get(job_id)
                    if record.job.state == jobs_pb2.JOB_STATE_CANCELLED:
                        run.cancelled = True
                        run.cancel()
            except (*REDIS_FAILURES, ApiError) as exc:
                log.warning("job_leases_not_renewed", error=str(exc) or type(exc).__name__)

    async def _sweep(self) -> None:
        """Deletes expired jobs and their files, and files no job refers to any more."""
        while True:
            try:
                for job_id in await self.store.expired(time.time()):
                    await self.store.delete(job_id)
                    await asyncio.to_thread(self.artifacts.remove, job_id)
                    log.info("job_expired", job_id=job_id)
                stale = await asyncio.to_thread(self.artifacts.stale, self.settings.job_retention_seconds)
                for job_id in stale:
                    with contextlib.suppress(ApiError):
                        await self.store.get(job_id)
                        continue
                    await asyncio.to_thread(self.artifacts.remove, job_id)
            except (*REDIS_FAILURES, ApiError) as exc:
                log.warning("job_sweep_failed", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(_SWEEP_SECONDS)

    # -- one job -------------------------------------------------------------------------------------------------

    async def _run_job(self, entry: str, job_id: str) -> None:
        run = self.runs[job_id]
        structlog.contextvars.bind_contextvars(job_id=job_id)
        try:
            await self._attempts(job_id)
        except asyncio.CancelledError:
            if not run.cancelled:  # the gateway is stopping: the job stays queued for the next runner
                raise
            log.info("job_cancelled", job_id=job_id)
        except (*REDIS_FAILURES, ApiError) as exc:
            # Redis failed us: the entry stays pending and is taken over once its lease lapses.
            log.warning("job_interrupted", job_id=job_id, error=str(exc) or type(exc).__name__)
            return
        with contextlib.suppress(*REDIS_FAILURES):
            await self.store.done(entry)

    async def _attempts(self, job_id: str) -> None:
        settings = self.settings
        while (record := await self.store.start_run(job_id, self.name)) is not None:
            attempt = record.job.attempts
            result: Artifact | None = None
            error: ApiError | None = None
            try:
                result = await self._execute(record)
            except _StagesFailed as failed:
                error, result = failed.error, failed.result
            except ApiError as exc:
                error = exc
            if error is not None and retryable(error) and attempt < settings.job_max_attempts:
                if result is not None:  # the next run makes the whole result again
                    await asyncio.to_thread(self.artifacts.discard, job_id, result)
                if await self.store.run_again(job_id, error):
                    await self._wait_to_run_again(attempt)
                continue
            state = jobs_pb2.JOB_STATE_SUCCEEDED if error is None else jobs_pb2.JOB_STATE_FAILED
            if not await self.store.finish(job_id, state, result=result, error=error) and result is not None:
                # Cancelled, or finished by another run meanwhile: that outcome stands.
                await asyncio.to_thread(self.artifacts.discard, job_id, result)
            return

    async def _wait_to_run_again(self, attempt: int) -> None:
        """Backs off, then waits until the models the gateway needs answer again (a Triton restarting takes a while;
        runs meanwhile would only spend attempts)."""
        await asyncio.sleep(min(2.0 ** (attempt - 1), _MAX_RETRY_WAIT_SECONDS))
        models = self.service.models
        while not await _quietly(models.ready(self.settings.models)):  # noqa: ASYNC110 - polls Triton, not a flag
            await asyncio.sleep(self.settings.health_poll_seconds)

    async def _execute(self, record: JobRecord) -> Artifact:
        """One run: the job's RPC, its progress to Redis, its results (all but progress) to a new artifact."""
        job = record.job
        kind = record.request.WhichOneof("request")
        assert kind is not None
        # Training runs for minutes to hours: it has a limit of its own.
        setting = "train_timeout_seconds" if kind == "train" else "job_timeout_seconds"
        timeout: float = getattr(self.settings, setting)
        clock = JobClock(time.monotonic() + timeout)
        scope = RequestScope(kind, clock, timeout, request_id=job.id, key_name=record.owner or None)
        handler: Callable[..., AsyncIterator[Any]]
        if kind == "train":  # a job only, not an RPC
            handler, request = training.train, self._training_upload(record)
        else:
            handler = getattr(MusicService, KINDS[kind]).__wrapped__  # the bare RPC
            request = (
                self._upload(record, kind) if kind in ("transcribe", "separate") else getattr(record.request, kind)
            )
        writer = await asyncio.to_thread(self.artifacts.writer, job.id, f"result-{job.attempts}")
        throttle = _Throttle()
        code = grpc.StatusCode.OK
        limit = asyncio.timeout(timeout)
        stages_failed = False  # the run's Summary listed failed stages: what it made before them is kept
        try:
            async with limit:
                async for response in handler(self.service, request, scope):
                    if response.HasField("progress"):
                        if throttle.due(response.progress):
                            await self.store.progress(job.id, response.progress)
                    else:  # up to a MiB of audio each: written off the event loop
                        await asyncio.to_thread(writer.write, response)
                        stages_failed |= response.HasField("summary") and bool(response.summary.failed_stages)
            return await asyncio.to_thread(writer.commit)
        except ApiError as exc:
            code = exc.code
            if not stages_failed:
                await asyncio.to_thread(writer.discard)
                raise
            raise _StagesFailed(exc, await asyncio.to_thread(writer.commit)) from exc
        except BaseException as exc:
            code = _code_of(exc, timed_out=limit.expired())
            await asyncio.to_thread(writer.discard)
            if isinstance(exc, TimeoutError) and limit.expired():
                raise ApiError(
                    grpc.StatusCode.DEADLINE_EXCEEDED, f"the job ran past {setting} ({timeout:g} s)"
                ) from exc
            if isinstance(exc, CorruptArtifact):
                raise ApiError(grpc.StatusCode.DATA_LOSS, f"the job's input was lost: {exc}") from exc
            # Redis failing under a run (its progress not written) interrupts the run, which is taken up again.
            if not isinstance(exc, (ApiError, asyncio.CancelledError, *REDIS_FAILURES)):
                log.exception("job_run_failed", job_id=job.id)
                raise ApiError(grpc.StatusCode.INTERNAL, f"internal error (job {job.id})") from exc
            raise
        finally:
            for callback in scope.on_finish:
                callback(code)
            metrics.JOB_RUNS.labels(job.kind, code.name).inc()
            log.info(
                "job_run",
                job_id=job.id,
                kind=job.kind,
                attempt=job.attempts,
                code=code.name,
                cache_hit=scope.cache_hit,
                ms=round((time.perf_counter() - scope.started) * 1000, 2),
                stages_ms={STAGE_NAMES[s]: round(t * 1000, 2) for s, t in scope.stage_seconds.items()},
            )

    async def _upload(self, record: JobRecord, kind: str) -> AsyncIterator[Any]:
        """The job's audio as the RPC's client would stream it: its options, then the stored header and chunks."""
        message = pb.TranscribeRequest if kind == "transcribe" else pb.SeparateRequest
        assert record.input is not None  # SubmitJob stores audio with every transcribe and separate job
        await asyncio.to_thread(self.artifacts.verify, record.job.id, record.input)
        yield message(options=getattr(record.request, kind))
        parts = self.artifacts.messages(record.job.id, record.input)
        header = await asyncio.to_thread(next, parts)
        yield message(audio_header=audio_pb2.AudioHeader.FromString(header))
        while (chunk := await asyncio.to_thread(next, parts, None)) is not None:
            yield message(audio_chunk=audio_pb2.AudioChunk.FromString(chunk))

    async def _training_upload(self, record: JobRecord) -> AsyncIterator[jobs_pb2.SubmitJobRequest]:
        """A train job's request, then its stored files, as SubmitJob received them (gateway.training)."""
        assert record.input is not None  # SubmitJob stores the files of every train job
        await asyncio.to_thread(self.artifacts.verify, record.job.id, record.input)
        yield jobs_pb2.SubmitJobRequest(request=record.request)
        parts = self.artifacts.messages(record.job.id, record.input)
        while (raw := await asyncio.to_thread(next, parts, None)) is not None:
            yield jobs_pb2.SubmitJobRequest.FromString(raw)


class _StagesFailed(Exception):
    """A run whose later stage failed (`error`) after earlier stages had made `result`, which is kept."""

    def __init__(self, error: ApiError, result: Artifact) -> None:
        super().__init__(error.message)
        self.error = error
        self.result = result


async def _quietly(ready: Any) -> bool:
    try:
        return bool(await ready)
    except ApiError:
        return False


def _code_of(exc: BaseException, *, timed_out: bool) -> grpc.StatusCode:
    if isinstance(exc, ApiError):
        return exc.code
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    if timed_out:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(exc, REDIS_FAILURES):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL
