"""Durable jobs in Redis. A job is a hash (what it runs, whose it is, its state, progress, attempts and where its input
and results are kept), an entry in the runners' queue (a Redis stream read by a consumer group, so an entry taken by
a gateway that died is taken over by another once its lease lapses), a stream of change notices that watchers block
on, and index entries: the owner's jobs by age, and every job by expiry. State changes are check-and-set (WATCH),
so a job that finished or was cancelled never changes again: a job run twice (its first runner presumed dead) keeps
the results of the run that finished first. Redis persistence (AOF) is what makes jobs outlive Redis restarts; job
records carry no TTL, so an eviction policy for cache entries (volatile-*) never drops them: they are deleted when
they expire."""

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import grpc
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from redis.exceptions import ResponseError, WatchError

from dgxmusic.v1 import jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway import metrics
from gateway.artifacts import Artifact
from gateway.cache import REDIS_FAILURES
from gateway.errors import ApiError
from gateway.scope import owner_tag

# JobRequest's fields -> the MusicService RPC each runs (Job.kind).
KINDS = {
    "compose": "Compose",
    "render": "Render",
    "transcribe": "Transcribe",
    "separate": "Separate",
    "generate_audio": "GenerateAudio",
    "train": "Train",  # a job only: gateway.training
}
FINISHED = frozenset({jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED})

QUEUE = "dgxmusic:jobs:queue"
RUNNERS = "runners"
EXPIRY = "dgxmusic:jobs:expiry"
_NOTICES_KEPT = 8


def job_key(job_id: str) -> str:
    return f"dgxmusic:job:{job_id}"


def notices_key(job_id: str) -> str:
    return f"dgxmusic:job:{job_id}:notices"


def owner_key(owner: str) -> str:
    # Owners are API key names (or "" for the keyless loopback default): hashed, so any name makes a valid key.
    return f"dgxmusic:jobs:owner:{owner_tag(owner)}"


def new_job_id() -> str:
    return uuid.uuid4().hex


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def unavailable(exc: Exception) -> ApiError:
    return ApiError(
        grpc.StatusCode.UNAVAILABLE, f"jobs are kept in Redis, which did not answer: {exc or type(exc).__name__}"
    )


@dataclass(frozen=True)
class JobRecord:
    job: jobs_pb2.Job
    owner: str
    request: jobs_pb2.JobRequest  # empty unless read with_request
    input: Artifact | None
    result: Artifact | None


# What a JobRecord is read from (and `request`).
_RECORD_FIELDS = [
    "kind",
    "owner",
    "state",
    "progress",
    "attempts",
    "error_code",
    "error_message",
    "description",
    "create_time",
    "update_time",
    "expire_time",
    "request_id",
    "input",
    "result",
]
# Job.kind -> its JobRequest field.
FIELD_OF_KIND = {kind: field for field, kind in KINDS.items()}


def _artifact(raw: bytes | None) -> Artifact | None:
    return Artifact(**json.loads(raw)) if raw else None


def _record(job_id: str, fields: dict[bytes, bytes]) -> JobRecord:
    def text(name: str) -> str:
        return fields.get(name.encode(), b"").decode()

    def number(name: str) -> float:
        return float(fields.get(name.encode(), b"0"))

    job = jobs_pb2.Job(
        id=job_id,
        kind=text("kind"),
        state=cast(jobs_pb2.JobState, int(number("state"))),
        progress=pb.Progress.FromString(fields.get(b"progress", b"")),
        attempts=int(number("attempts")),
        error_code=text("error_code"),
        error_message=text("error_message"),
        description=text("description"),
        create_time=_timestamp(number("create_time")),
        update_time=_timestamp(number("update_time")),
        expire_time=_timestamp(number("expire_time")),
        request_id=text("request_id"),
    )
    result = _artifact(fields.get(b"result"))
    if result is not None:
        job.result_bytes = result.size
    return JobRecord(
        job,
        text("owner"),
        jobs_pb2.JobRequest.FromString(fields.get(b"request", b"")),
        _artifact(fields.get(b"input")),
        result,
    )


def _artifact_json(artifact: Artifact) -> str:
    return json.dumps({"name": artifact.name, "sha256": artifact.sha256, "size": artifact.size})


class JobStore:
    """Jobs as the RPCs and the runners read and change them. Every method raises ApiError: NOT_FOUND for a job
    that is not there (or not the caller's), UNAVAILABLE when Redis does not answer."""

    def __init__(
        self,
        client: "aioredis.Redis",
        retention_seconds: float,
        *,
        blocking: "aioredis.Redis | None" = None,
        block_seconds: float = 2.0,
        timeout_seconds: float = 1.0,
    ) -> None:
        """`blocking` makes the blocking reads (a client whose socket timeout does not cut them short; `client` if
        None), each waiting `block_seconds`, and given up `timeout_seconds` after that (Redis is frozen)."""
        self.client = client
        self.blocking = blocking or client
        self.retention_seconds = retention_seconds
        self.block_ms = max(1, int(block_seconds * 1000))
        self.read_limit = block_seconds + timeout_seconds

    # -- the callers' side ---------------------------------------------------------------------------------------

    async def create(
        self,
        owner: str,
        request: jobs_pb2.JobRequest,
        *,
        job_id: str,
        description: str,
        request_id: str,
        input: Artifact | None,
    ) -> jobs_pb2.Job:
        kind = request.WhichOneof("request")
        assert kind is not None  # checked by the caller
        now = time.time()
        fields: dict[str, Any] = {
            "kind": KINDS[kind],
            "owner": owner,
            "request": request.SerializeToString(),
            "state": jobs_pb2.JOB_STATE_QUEUED,
            "attempts": 0,
            "description": description,
            "request_id": request_id,
            "create_time": now,
            "update_time": now,
            "expire_time": now + self.retention_seconds,
            "progress": pb.Progress(message="queued").SerializeToString(),
        }
        if input is not None:
            fields["input"] = _artifact_json(input)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(job_key(job_id), mapping=cast(Any, fields))
                pipe.zadd(owner_key(owner), {job_id: now})
                pipe.zadd(EXPIRY, {job_id: now + self.retention_seconds})
                pipe.xadd(notices_key(job_id), {"at": now}, maxlen=_NOTICES_KEPT, approximate=True)
                pipe.xadd(QUEUE, {"job": job_id})
                await pipe.execute()
        except REDIS_FAILURES as exc:
            raise unavailable(exc) from exc
        # As written, not as read back: a runner may have started it already.
        written = {
            name.encode(): value if isinstance(value, bytes) else str(value).encode() for name, value in fields.items()
        }
        return _record(job_id, written).job

    async def get(self, job_id: str, owner: str | None = None, *, with_request: bool = False) -> JobRecord:
        """The job; with `owner`, only if it is theirs. Its request (up to MiBs of MIDI or melody) is read only
        `with_request`: watchers read a job at each change of its progress."""
        names = [*_RECORD_FIELDS, "request"] if with_request else _RECORD_FIELDS
        try:
            values: Any = await self.client.hmget(job_key(job_id), names)
        except REDIS_FAILURES as exc:
            raise unavailable(exc) from exc
        fields = {name.encode(): value for name, value in zip(names, values, strict=True) if value is not None}
        if not fields or (owner is not None and fields.get(b"owner", b"").decode() != owner):
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"id: no job {job_id}", "id")
        return _record(job_id, fields)

    async def page(self, owner: str, page_size: int, before: float | None) -> tuple[list[jobs_pb2.Job], float | None]:
        """The owner's jobs created before `before` (all: None), newest first; and where the next page starts."""
        index = owner_key(owner)
        try:
            ids: Any = await self.client.zrevrangebyscore(
                index, f"({before}" if before is not None else "+inf", "-inf", start=0, num=page_size, withscores=True
            )
        except REDIS_FAILURES as exc:
            raise unavailable(exc) from exc
        jobs = []
        for raw_id, _ in ids:
            try:
                jobs.append((await self.get(raw_id.decode(), owner)).job)
            except ApiError as exc:
                if exc.code != grpc.StatusCode.NOT_FOUND:
                    raise
        more = len(ids) == page_size
        return jobs, (ids[-1][1] if more else None)

    async def cancel(self, job_id: str, owner: str) -> jobs_pb2.Job:
        """Cancels a job that has not finished (its runner sees it at its next heartbeat and stops the work)."""
        await self.get(job_id, owner)  # NOT_FOUND for anyone else's
        await self._change(job_id, state=jobs_pb2.JOB_STATE_CANCELLED, progress=pb.Progress(message="cancelled"))
        return (await self.get(job_id, owner)).job

    async def notices(self, job_id: str, after: str) -> str | None:
        """Waits (a short while) for the job to change after notice `after` ("0": any); the latest notice's id, or
        None when nothing changed meanwhile."""
        try:
            async with asyncio.timeout(self.read_limit):
                answer: Any = await self.blocking.xread({notices_key(job_id): after}, block=self.block_ms)
        except REDIS_FAILURES as exc:
            raise unavailable(exc) from exc
        if not answer:
            return None
        _, entries = answer[0]
        return cast(str, entries[-1][0].decode())

    # -- the runners' side ---------------------------------------------------------------------------------------

    async def ensure_queue(self) -> None:
        try:
            await self.client.xgroup_create(QUEUE, RUNNERS, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # made by an earlier gateway
                raise

    async def take(self, runner: str, count: int, *, lease_seconds: float) -> list[tuple[str, str]]:
        """Up to `count` (queue entry, job id) for `runner`: first those whose runner let their lease lapse (it
        died), then new ones, waiting a short while for them."""
        lapsed_ms = int(lease_seconds * 1000)
        claimed_answer: Any = await self.client.xautoclaim(QUEUE, RUNNERS, runner, lapsed_ms, "0-0", count=count)
        claimed = claimed_answer[1]
        entries = [entry for entry in claimed if entry[1]]  # entries deleted meanwhile come back empty
        if not entries:
            async with asyncio.timeout(self.read_limit):
                answer: Any = await self.blocking.xreadgroup(
                    RUNNERS, runner, {QUEUE: ">"}, count=count, block=self.block_ms
                )
            entries = answer[0][1] if answer else []
        return [(entry_id.decode(), fields[b"job"].decode()) for entry_id, fields in entries]

    async def renew(self, runner: str, entries: Sequence[str]) -> None:
        """Renews `runner`'s lease of its entries (their idle time starts again)."""
        if entries:
            await self.client.xclaim(QUEUE, RUNNERS, runner, 0, list(entries), justid=True)

    async def done(self, entry: str) -> None:
        """Takes a job's entry off the queue (the job has finished, or was found finished)."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(QUEUE, RUNNERS, entry)
            pipe.xdel(QUEUE, entry)
            await pipe.execute()

    async def start_run(self, job_id: str, runner: str) -> JobRecord | None:
        """Marks a run of the job begun; None when the job has finished (or is gone) and must not run."""
        changed = await self._change(
            job_id,
            state=jobs_pb2.JOB_STATE_RUNNING,
            progress=pb.Progress(message="started"),
            runner=runner,
            add_attempt=True,
        )
        return await self.get(job_id, with_request=True) if changed else None

    async def progress(self, job_id: str, progress: pb.Progress) -> None:
        """The running job's latest progress (written whatever its state: a cancel wins anyway)."""
        now = time.time()
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(job_key(job_id), mapping={"progress": progress.SerializeToString(), "update_time": now})
            pipe.xadd(notices_key(job_id), {"at": now}, maxlen=_NOTICES_KEPT, approximate=True)
            await pipe.execute()

    async def run_again(self, job_id: str, error: ApiError) -> bool:
        """Puts the job back to wait for its next run, saying why the last failed; False if it has finished."""
        return await self._change(
            job_id,
            state=jobs_pb2.JOB_STATE_QUEUED,
            progress=pb.Progress(message=f"waiting to run again: {error.code.name}"),
            error=error,
        )

    async def finish(
        self,
        job_id: str,
        state: jobs_pb2.JobState,
        *,
        result: Artifact | None = None,
        error: ApiError | None = None,
    ) -> bool:
        """Ends the job; False when it had already ended (cancelled, or finished by another run)."""
        message = {jobs_pb2.JOB_STATE_SUCCEEDED: "done", jobs_pb2.JOB_STATE_FAILED: "failed"}.get(state, "ended")
        progress = pb.Progress(fraction=1.0 if state == jobs_pb2.JOB_STATE_SUCCEEDED else 0.0, message=message)
        return await self._change(job_id, state=state, progress=progress, result=result, error=error)

    async def expired(self, now: float, count: int = 100) -> list[str]:
        ids: Any = await self.client.zrangebyscore(EXPIRY, "-inf", now, start=0, num=count)
        return [raw.decode() for raw in ids]

    async def delete(self, job_id: str) -> None:
        owner: Any = await self.client.hget(job_key(job_id), "owner")
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(job_key(job_id), notices_key(job_id))
            if owner is not None:
                pipe.zrem(owner_key(owner.decode()), job_id)
            pipe.zrem(EXPIRY, job_id)
            await pipe.execute()

    async def _change(
        self,
        job_id: str,
        *,
        state: jobs_pb2.JobState,
        progress: pb.Progress,
        runner: str | None = None,
        add_attempt: bool = False,
        result: Artifact | None = None,
        error: ApiError | None = None,
    ) -> bool:
        """Moves an unfinished job to `state`, atomically; False (nothing changed) if it has finished or is gone."""
        key = job_key(job_id)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        current, kind = cast(list[bytes | None], await pipe.hmget(key, ["state", "kind"]))
                        if current is None or int(current) in FINISHED:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return False
                        now = time.time()
                        fields = self._fields(state, progress, now, runner=runner, result=result, error=error)
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.hset(key, mapping=cast(Any, fields))
                        if add_attempt:
                            pipe.hincrby(key, "attempts", 1)
                        if state in FINISHED:
                            pipe.zadd(EXPIRY, {job_id: now + self.retention_seconds})
                        pipe.xadd(notices_key(job_id), {"at": now}, maxlen=_NOTICES_KEPT, approximate=True)
                        await pipe.execute()
                        if state in FINISHED:
                            metrics.JOBS.labels((kind or b"").decode(), jobs_pb2.JobState.Name(state)).inc()
                        return True
                    except WatchError:  # changed meanwhile: look again
                        continue
        except REDIS_FAILURES as exc:
            raise unavailable(exc) from exc

    def _fields(
        self,
        state: jobs_pb2.JobState,
        progress: pb.Progress,
        now: float,
        *,
        runner: str | None,
        result: Artifact | None,
        error: ApiError | None,
    ) -> dict[str, Any]:
        """What a change of state writes."""
        fields: dict[str, Any] = {"state": state, "progress": progress.SerializeToString(), "update_time": now}
        if runner is not None:
            fields["runner"] = runner
        if result is not None:
            fields["result"] = _artifact_json(result)
        if error is not None:
            fields.update(error_code=error.code.name, error_message=error.message)
        elif state == jobs_pb2.JOB_STATE_SUCCEEDED:
            fields.update(error_code="", error_message="")
        if state in FINISHED:
            fields["expire_time"] = now + self.retention_seconds
        return fields
