"""Audio that clients stream in (Transcribe, Separate): options first, then one AudioHeader and its chunks."""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

import grpc

from dgxmusic.audio import FloatAudio, decode_upload
from dgxmusic.v1 import audio_pb2
from gateway.errors import ApiError, invalid_argument, request_errors, too_large

Options = TypeVar("Options")
Options_co = TypeVar("Options_co", covariant=True)
Checked = TypeVar("Checked")
Message = TypeVar("Message")


class AudioMessage(Protocol):
    """A message of a stream that carries audio: an audio_header or an audio_chunk (or what else its oneof holds)."""

    @property
    def audio_header(self) -> audio_pb2.AudioHeader: ...

    @property
    def audio_chunk(self) -> audio_pb2.AudioChunk: ...

    def WhichOneof(self, oneof_group: str, /) -> str | None: ...


class UploadMessage(AudioMessage, Protocol[Options_co]):
    """A message of an upload (TranscribeRequest, SeparateRequest): options, audio_header or audio_chunk."""

    @property
    def options(self) -> Options_co: ...


class UploadMemory:
    """The gateway's memory for uploads in flight, shared by every call: whatever clients send, it stays under the
    limit (`max_upload_memory_bytes`); past it an upload is refused with RESOURCE_EXHAUSTED, to be retried."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def hold(self) -> "UploadHold":
        return UploadHold(self)


class UploadHold:
    """One call's share of UploadMemory, grown as its upload arrives and is decoded, released when the call ends."""

    def __init__(self, memory: UploadMemory) -> None:
        self.memory = memory
        self.bytes = 0

    def grow_to(self, total: int) -> None:
        extra = total - self.bytes
        if extra <= 0:
            return
        memory = self.memory
        if memory.used + extra > memory.limit:
            reason = f"the server holds {memory.used} bytes of uploads and takes at most {memory.limit}: retry later"
            raise too_large("audio", reason)
        memory.used += extra
        self.bytes = total

    def release(self) -> None:
        self.memory.used -= self.bytes
        self.bytes = 0


@dataclass(frozen=True)
class Upload(Generic[Checked]):
    options: Checked  # what check_options made of the request's options (their defaults when the client sent none)
    samples: FloatAudio  # [frames, channels]
    sample_rate: int


async def audio_parts(
    messages: AsyncIterator[AudioMessage],
    *,
    max_bytes: int,
    idle_seconds: float,
    on_options: Callable[[Any], None] | None = None,
) -> AsyncIterator[audio_pb2.AudioHeader | audio_pb2.AudioChunk]:
    """The AudioHeader, then each chunk of a client's audio stream, checked as they come: in order, within
    ``max_bytes`` and what the header declared, ended by the chunk marked last. Options (for ``on_options``) may come
    before the audio. A stream silent for ``idle_seconds`` is closed: it would hold a call's slot for as long as its
    client liked."""
    header = None
    size = 0
    async for message in until_idle(messages, idle_seconds):
        kind = message.WhichOneof("message")
        if kind == "audio_header":
            if header is not None:
                raise invalid_argument("audio_header", "one audio stream per call")
            header = message.audio_header
            if header.total_bytes > max_bytes:
                raise too_large("audio", f"{header.total_bytes} bytes is over the {max_bytes}-byte limit")
            yield header
        elif kind == "audio_chunk":
            if header is None:
                raise invalid_argument("audio_chunk", "send an AudioHeader before the chunks")
            size += len(message.audio_chunk.data)
            _check_size(size, header.total_bytes, max_bytes, last=message.audio_chunk.last)
            yield message.audio_chunk
            if message.audio_chunk.last:
                return
        elif kind == "options" and on_options is not None:
            if header is not None:
                raise invalid_argument("options", "send the options before the audio")
            on_options(cast(UploadMessage[Any], message).options)
        elif kind is None:
            raise invalid_argument("message", "an empty message: send options, audio_header or audio_chunk")
        else:
            raise invalid_argument(kind, "send it first, once, before the audio")
    raise invalid_argument("audio", "the stream ended before the chunk marked last")


async def receive_audio(
    requests: AsyncIterator[UploadMessage[Options]],
    options: Options,
    *,
    max_bytes: int,
    idle_seconds: float,
    hold: UploadHold,
    check_options: Callable[[Options], Checked],
) -> Upload[Checked]:
    """Reads a client stream of options / audio_header / audio_chunk messages (audio_parts) into decoded audio. The
    options are checked (``check_options`` raises ApiError, or returns them as the call uses them) as the audio
    starts, so bad options fail before a long upload. ``hold`` counts the memory the upload takes, as early as it can
    be told: what its header declares, what arrives, then at decoding the bytes (twice: joined once) and the
    samples."""
    sent = [options]
    checked: Checked | None = None
    header = audio_pb2.AudioHeader()
    parts: list[bytes] = []
    size = 0
    async for part in audio_parts(requests, max_bytes=max_bytes, idle_seconds=idle_seconds, on_options=sent.append):
        if isinstance(part, audio_pb2.AudioHeader):
            header = part
            checked = check_options(sent[-1])
            hold.grow_to(header.total_bytes)
        else:
            size += len(part.data)
            hold.grow_to(size)
            parts.append(part.data)
    assert checked is not None  # audio_parts yields the header first
    hold.grow_to(2 * size)
    data = b"".join(parts)
    parts.clear()
    with request_errors():
        samples, sample_rate = await asyncio.to_thread(decode_upload, data, header)
    hold.grow_to(2 * size + samples.nbytes)
    return Upload(checked, samples, sample_rate)


def _check_size(size: int, declared: int, max_bytes: int, *, last: bool) -> None:
    """The bytes received so far against the limit and against what the header declared (0: not declared)."""
    if size > max_bytes:
        raise too_large("audio", f"more than the {max_bytes}-byte limit")
    if declared and (size > declared or (last and size != declared)):
        raise invalid_argument("audio_header.total_bytes", f"the header declared {declared} bytes, {size} came")


async def until_idle(
    messages: AsyncIterator[Message], idle_seconds: float, field: str = "audio"
) -> AsyncIterator[Message]:
    """The messages, until one has not come within idle_seconds of the last (a silent upload would hold its slot):
    DEADLINE_EXCEEDED naming the `field` being uploaded."""
    iterator = aiter(messages)
    while True:
        try:
            async with asyncio.timeout(idle_seconds):
                message = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            reason = f"nothing arrived for {idle_seconds:g} s: the upload was closed"
            raise ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, f"{field}: {reason}", field) from None
        yield message
