"""dgxmusic.v1.JobService: durable jobs (gateway.jobs) as their callers see them. A job's request is checked as the
RPC itself checks it, at submission; its audio goes to the artifact store as it arrives; gateway.job_runner runs it.
Each caller sees only its own jobs (its API key's; without keys, the loopback default, everyone's are one)."""

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc

from deploy.settings import Settings
from dgxmusic.v1 import audio_pb2, jobs_pb2
from dgxmusic.v1 import jobs_pb2_grpc as jobs_grpc
from dgxmusic.v1 import music_service_pb2 as pb
from gateway import training, validation
from gateway.artifacts import Artifact, ArtifactStore, CorruptArtifact
from gateway.errors import ApiError, invalid_argument
from gateway.jobs import FIELD_OF_KIND, FINISHED, KINDS, JobStore, new_job_id
from gateway.scope import RequestScope, streaming_rpc, unary_rpc
from gateway.service import MusicService
from gateway.uploads import audio_parts

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_RESPONSES: dict[str, type[Any]] = {
    "compose": pb.ComposeResponse,
    "render": pb.RenderResponse,
    "transcribe": pb.TranscribeResponse,
    "separate": pb.SeparateResponse,
    "generate_audio": pb.GenerateAudioResponse,
    "train": pb.TrainResponse,
}
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def owner_of(scope: RequestScope) -> str:
    return scope.key_name or ""


def checked_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):
        raise invalid_argument("id", "not a job id (32 hexadecimal digits)")
    return job_id


def check_request(request: jobs_pb2.JobRequest, settings: Settings) -> None:
    """Refuses a job that its RPC would refuse, naming fields as they sit in SubmitJobRequest."""
    kind = request.WhichOneof("request")
    if kind is None:
        raise invalid_argument(
            "request", "say what the job does: compose, render, transcribe, separate, generate_audio or train"
        )
    prefix = f"request.{kind}."
    try:
        if kind == "compose":
            validation.compose(request.compose, settings)
        elif kind == "render":
            validation.render(request.render, settings)
        elif kind == "generate_audio":
            validation.generate_audio(request.generate_audio, settings)
        elif kind == "transcribe":
            validation.transcription_params(request.transcribe)
        elif kind == "train":
            validation.train(request.train)
        else:
            validation.separation_format(request.separate, settings)
    except ApiError as exc:
        if not exc.violations:
            raise

        # The options' checks name their fields as Transcribe, Separate and Compose hold them ("options.model"); in a
        # job they are the request's own. Messages begin with their first field's name: renamed too.
        def renamed(field: str) -> str:
            if kind in ("transcribe", "separate"):
                field = field.removeprefix("transcription_options.").removeprefix("options.")
            return prefix + field

        violations = [(renamed(field), reason) for field, reason in exc.violations]
        first = exc.violations[0][0]
        message = renamed(first) + exc.message.removeprefix(first)
        raise ApiError(exc.code, message, violations=violations) from exc


def describe(request: jobs_pb2.JobRequest, audio_bytes: int) -> str:
    kind = request.WhichOneof("request")
    if kind == "compose":
        return request.compose.prompt[:200]
    if kind == "generate_audio":
        return request.generate_audio.prompt[:200]
    if kind == "render":
        return f"a MIDI file of {len(request.render.midi)} bytes"
    if kind == "train":
        return f"adapter {request.train.name} from audio files of {audio_bytes} bytes"
    return f"audio of {audio_bytes} bytes"


class _Outage:
    """Rides out a Redis that is restarting (a watch is long; Redis may be back in a moment): UNAVAILABLE is waited
    out, a second at a time, for up to `seconds`, then passed on."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.since: float | None = None

    async def wait_out(self, error: ApiError) -> None:
        now = time.monotonic()
        self.since = self.since or now
        if error.code != grpc.StatusCode.UNAVAILABLE or now - self.since > self.seconds:
            raise error
        await asyncio.sleep(1.0)


def _as_sent(part: audio_pb2.AudioHeader | audio_pb2.AudioChunk) -> jobs_pb2.SubmitJobRequest:
    if isinstance(part, audio_pb2.AudioHeader):
        return jobs_pb2.SubmitJobRequest(audio_header=part)
    return jobs_pb2.SubmitJobRequest(audio_chunk=part)


class JobService(jobs_grpc.JobServiceServicer):  # type: ignore[misc]  # untyped generated base
    def __init__(self, settings: Settings, store: JobStore, artifacts: ArtifactStore, music: MusicService) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        # Read by scope's RPC wrappers: the same keys, slots and quotas as MusicService's calls.
        self.gate = music.gate
        self.admission = music.admission
        self.quota = music.quota

    @unary_rpc("SubmitJob")
    async def SubmitJob(
        self, requests: AsyncIterator[jobs_pb2.SubmitJobRequest], scope: RequestScope
    ) -> jobs_pb2.SubmitJobResponse:
        messages = aiter(requests)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("message") != "request":
            raise invalid_argument("request", "send the job's request first")
        request = first.request
        check_request(request, self.settings)
        kind = request.WhichOneof("request")
        if kind == "generate_audio" and not request.generate_audio.HasField("seed"):
            # Drawn now, so that a run after a crash makes the audio the first would have.
            request.generate_audio.seed = secrets.randbits(62)
        job_id = new_job_id()
        stored = None
        if kind in ("transcribe", "separate", "train"):
            stored = await self._store_audio(job_id, messages, several=kind == "train")
        elif await anext(messages, None) is not None:
            raise invalid_argument("audio_header", f"a {KINDS[str(kind)]} job takes no audio")
        try:
            job = await self.store.create(
                owner_of(scope),
                request,
                job_id=job_id,
                description=describe(request, stored.size if stored else 0),
                request_id=scope.request_id,
                input=stored,
            )
        except ApiError:
            await asyncio.to_thread(self.artifacts.remove, job_id)
            raise
        scope.log_fields.update(job_id=job_id, kind=job.kind)
        return jobs_pb2.SubmitJobResponse(job=job)

    @streaming_rpc("WatchJob", quota=False)
    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, scope: RequestScope
    ) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        job_id, owner = checked_id(request.id), owner_of(scope)
        notice = "0"
        record = await self.store.get(job_id, owner)
        sent = None
        outage = _Outage(self.settings.redis_retry_seconds)
        while True:
            if record.job != sent:
                yield jobs_pb2.WatchJobResponse(job=record.job)
                sent = record.job
            if record.job.state in FINISHED:
                break
            try:
                while (changed := await self.store.notices(job_id, notice)) is None:
                    pass
                notice = changed
                record = await self.store.get(job_id, owner)
                outage.since = None
            except ApiError as exc:
                await outage.wait_out(exc)
        # A failed job's results are those it made before a later stage failed (gateway.job_runner).
        if record.job.state in (jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED) and record.result is not None:
            async for event in self._results(job_id, FIELD_OF_KIND[record.job.kind], record.result):
                yield event

    @unary_rpc("GetJob", quota=False)
    async def GetJob(self, request: jobs_pb2.GetJobRequest, scope: RequestScope) -> jobs_pb2.GetJobResponse:
        record = await self.store.get(checked_id(request.id), owner_of(scope))
        return jobs_pb2.GetJobResponse(job=record.job)

    @unary_rpc("ListJobs", quota=False)
    async def ListJobs(self, request: jobs_pb2.ListJobsRequest, scope: RequestScope) -> jobs_pb2.ListJobsResponse:
        if not 0 <= request.page_size <= MAX_PAGE_SIZE:
            raise invalid_argument("page_size", f"from 1 to {MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE}")
        before = None
        if request.page_token:
            try:
                before = float(request.page_token)
            except ValueError:
                raise invalid_argument("page_token", "not a token ListJobs gave") from None
        jobs, next_before = await self.store.page(owner_of(scope), request.page_size or DEFAULT_PAGE_SIZE, before)
        return jobs_pb2.ListJobsResponse(jobs=jobs, next_page_token="" if next_before is None else repr(next_before))

    @unary_rpc("CancelJob", quota=False)
    async def CancelJob(self, request: jobs_pb2.CancelJobRequest, scope: RequestScope) -> jobs_pb2.CancelJobResponse:
        job = await self.store.cancel(checked_id(request.id), owner_of(scope))
        scope.log_fields.update(job_id=job.id)
        return jobs_pb2.CancelJobResponse(job=job)

    async def _store_audio(
        self, job_id: str, messages: AsyncIterator[jobs_pb2.SubmitJobRequest], *, several: bool = False
    ) -> Artifact:
        """Writes the job's audio (`several` files, for train) to the artifact store as it arrives (no more of it in
        memory than a chunk)."""
        writer = await asyncio.to_thread(self.artifacts.writer, job_id, "input")
        receive = training.receive_files if several else audio_parts
        parts = receive(
            messages, max_bytes=self.settings.max_upload_bytes, idle_seconds=self.settings.upload_idle_seconds
        )
        try:
            async for part in parts:
                # Several files are kept as sent, so that a header and a chunk tell themselves apart.
                await asyncio.to_thread(writer.write, _as_sent(part) if several else part)
            return await asyncio.to_thread(writer.commit)
        except BaseException:
            await asyncio.to_thread(writer.discard)
            await asyncio.to_thread(self.artifacts.remove, job_id)
            raise

    async def _results(self, job_id: str, kind: str, result: Artifact) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        """The job's stored results, each wrapped as WatchJobResponse's field of its kind; checked whole first."""
        try:
            await asyncio.to_thread(self.artifacts.verify, job_id, result)
        except CorruptArtifact as exc:
            raise ApiError(grpc.StatusCode.DATA_LOSS, f"the job's results were lost: {exc}") from exc
        response = _RESPONSES[kind]
        events: Iterator[bytes] = self.artifacts.messages(job_id, result)
        while (raw := await asyncio.to_thread(next, events, None)) is not None:
            yield jobs_pb2.WatchJobResponse(**{kind: response.FromString(raw)})
