"""How a streaming RPC answers: ResponseStream writes its response messages (progress within a span of the job, audio
streams, the transcriptions, the summary), records those that make up the result for the cache, and replays a cached
result; FailedStages keeps what a call sent when a later stage fails."""

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Generic, Protocol, TypeVar, cast

import grpc
import structlog
from google.protobuf.message import Message

from dgxmusic import audio
from dgxmusic.audio import FloatAudio, ResolvedFormat
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.cache import Recording
from gateway.errors import ApiError
from gateway.progress import Span
from gateway.scope import RequestScope


class Response(Protocol):
    """A streaming RPC's response message (ComposeResponse, RenderResponse...): one event of its oneof each."""

    @property
    def progress(self) -> pb.Progress: ...

    @property
    def summary(self) -> pb.Summary: ...

    def ParseFromString(self, serialized: bytes, /) -> int: ...


class AudioResponse(Response, Protocol):
    """The response of an RPC that streams audio."""

    @property
    def audio_header(self) -> audio_pb2.AudioHeader: ...

    @property
    def audio_chunk(self) -> audio_pb2.AudioChunk: ...


class TranscriptionResponse(Response, Protocol):
    """The response of an RPC that sends transcriptions."""

    @property
    def transcription(self) -> pb.Transcription: ...


log = structlog.get_logger(__name__)


class StagedResponse(Response, Protocol):
    """The response of an RPC of stages whose results are kept when a later one fails (Compose)."""

    @property
    def stage_error(self) -> pb.StageError: ...


R = TypeVar("R", bound=Response)
A = TypeVar("A", bound=AudioResponse)
T = TypeVar("T", bound=TranscriptionResponse)
S = TypeVar("S", bound=StagedResponse)


class ResponseStream(Generic[R]):
    """The responses of one call, as messages of type R. With a `recording`, the events of the result (all but
    progress and the summary) are kept for the cache as they go out."""

    def __init__(
        self, response: type[R], scope: RequestScope, *, chunk_bytes: int, recording: Recording | None = None
    ) -> None:
        self.response = response
        self.scope = scope
        self.chunk_bytes = chunk_bytes
        self.recording = recording

    def progress(self, stage: pb.Stage, fraction: float, message: str) -> R:
        return self.progress_of(pb.Progress(stage=stage, fraction=fraction, message=message))

    def progress_of(self, progress: pb.Progress) -> R:
        event = self.response()
        event.progress.CopyFrom(progress)
        return event

    def summary(self, failed_stages: Iterable[pb.StageError] = ()) -> R:
        event = self.response()
        event.summary.CopyFrom(self.scope.summary())
        event.summary.failed_stages.extend(failed_stages)
        return event

    def recorded(self, event: R) -> R:
        """The event, kept as part of the result."""
        if self.recording is not None:
            self.recording.append(cast(Message, event))  # every Response is a protobuf message
        return event

    def transcription(self: "ResponseStream[T]", transcription: pb.Transcription) -> T:
        event = self.response()
        event.transcription.CopyFrom(transcription)
        return self.recorded(event)

    async def audio(
        self: "ResponseStream[A]", streams: list[tuple[str, FloatAudio]], fmt: ResolvedFormat, span: Span
    ) -> AsyncIterator[A]:
        """Streams each (name, audio) in turn within `span`, reporting progress per stream. Each stream is encoded as
        its turn comes, so a slow reader holds one encoded stream, not all of them."""
        with self.scope.stage(pb.STAGE_STREAMING):
            total = sum(samples.shape[0] for _, samples in streams) or 1
            sent = 0
            for name, samples in streams:
                yield self.progress(pb.STAGE_STREAMING, span.at(sent, total), f"sending {name or 'mix'}")
                for message in await self._encode(name, samples, fmt):
                    yield self.recorded(self._audio_event(message))
                sent += samples.shape[0]
            yield self.progress(pb.STAGE_STREAMING, span.end, "sent")

    async def _encode(
        self, name: str, samples: FloatAudio, fmt: ResolvedFormat
    ) -> list[audio_pb2.AudioHeader | audio_pb2.AudioChunk]:
        # WAV/FLAC encoding of minutes of audio takes a while: keep it off the event loop.
        return await asyncio.to_thread(lambda: list(audio.stream_messages(name, samples, fmt, self.chunk_bytes)))

    def _audio_event(self: "ResponseStream[A]", message: audio_pb2.AudioHeader | audio_pb2.AudioChunk) -> A:
        event = self.response()
        if isinstance(message, audio_pb2.AudioHeader):
            event.audio_header.CopyFrom(message)
        else:
            event.audio_chunk.CopyFrom(message)
        return event

    def replay(self, cached: list[bytes]) -> Iterator[R]:
        """A cached result's events between the cache's progress, then the summary."""
        self.scope.cache_hit = True
        yield self.progress(pb.STAGE_CACHE, 0.0, "from the cache")
        for raw in cached:
            event = self.response()
            event.ParseFromString(raw)
            yield event
        yield self.progress(pb.STAGE_CACHE, 1.0, "done")
        yield self.summary()


class FailedStages(Generic[S]):
    """The stages of one call that failed after earlier stages had sent their results. Each failure is told at once
    as a StageError event (`add`, or `kept` around a stage's events); the call goes on with what does not need the
    failed stage, lists `stages` in its Summary, then raises `first_error`, so that the stream ends with its status
    - what a client that knows no StageError sees, as it saw before - and a partial result is never cached."""

    def __init__(self, out: ResponseStream[S]) -> None:
        self.out = out
        self.stages: list[pb.StageError] = []
        self.errors: list[ApiError] = []

    @property
    def first_error(self) -> ApiError:
        return self.errors[0]

    def add(self, stage: pb.Stage, field: str, exc: Exception) -> S:
        """The StageError event of `stage` (asked for by the request's `field`) failing with `exc`."""
        error = exc if isinstance(exc, ApiError) else self._internal(exc)
        if error.field == "audio" and field:
            # The audio a later stage is given is the call's own (Compose's song, its mix or a stem), not the
            # client's: told as the field that asked for the stage.
            reason = error.message.removeprefix("audio: ")
            error = ApiError(error.code, f"{field}: the song's audio {reason}", field, retry_after=error.retry_after)
        stage_error = pb.StageError(
            stage=stage,
            field=field,
            code=error.code.value[0],
            message=error.message,
            fields=[name for name, _ in error.violations],
        )
        self.stages.append(stage_error)
        self.errors.append(error)
        log.warning("stage_failed", stage=pb.Stage.Name(stage), field=field, code=error.code.name, error=error.message)
        event = self.out.response()
        event.stage_error.CopyFrom(stage_error)
        return event

    async def kept(self, stage: pb.Stage, field: str, events: AsyncIterator[S]) -> AsyncIterator[S]:
        """A stage's events, ended by its StageError if it fails (what it sent before stays sent)."""
        try:
            async for event in events:
                yield event
        except Exception as exc:
            yield self.add(stage, field, exc)

    def _internal(self, exc: Exception) -> ApiError:
        """A fault of the server's own (a bug): logged with its traceback, told as INTERNAL with the request id."""
        request_id = self.out.scope.request_id
        log.error("stage_failed_internally", request_id=request_id, exc_info=exc)
        return ApiError(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
