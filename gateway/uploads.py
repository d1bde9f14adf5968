"""Audio that clients stream in (Transcribe, Separate): options first, then one AudioHeader and its chunks."""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from dgxmusic.audio import FloatAudio, decode_upload
from dgxmusic.v1 import audio_pb2
from gateway.errors import invalid_argument, request_errors, too_large

Options = TypeVar("Options")
Options_co = TypeVar("Options_co", covariant=True)
Checked = TypeVar("Checked")


class UploadMessage(Protocol[Options_co]):
    """A message of an upload (TranscribeRequest, SeparateRequest): options, audio_header or audio_chunk."""

    @property
    def options(self) -> Options_co: ...

    @property
    def audio_header(self) -> audio_pb2.AudioHeader: ...

    @property
    def audio_chunk(self) -> audio_pb2.AudioChunk: ...

    def WhichOneof(self, oneof_group: str, /) -> str | None: ...


@dataclass(frozen=True)
class Upload(Generic[Checked]):
    options: Checked  # what check_options made of the request's options (their defaults when the client sent none)
    samples: FloatAudio  # [frames, channels]
    sample_rate: int


async def receive_audio(
    requests: AsyncIterator[UploadMessage[Options]],
    options: Options,
    *,
    max_bytes: int,
    check_options: Callable[[Options], Checked],
) -> Upload[Checked]:
    """Reads a client stream of options / audio_header / audio_chunk messages into decoded audio. The options are
    checked (``check_options`` raises ApiError, or returns them as the call uses them) as the audio starts, so bad
    options fail before a long upload."""
    checked: Checked | None = None
    header = None
    parts: list[bytes] = []
    size = 0
    finished = False
    async for message in requests:
        kind = message.WhichOneof("message")
        if kind == "options":
            if header is not None:
                raise invalid_argument("options", "send the options before the audio")
            options = message.options
        elif kind == "audio_header":
            if header is not None:
                raise invalid_argument("audio_header", "one audio stream per call")
            header = message.audio_header
            checked = check_options(options)
            if header.total_bytes > max_bytes:
                raise too_large("audio", f"{header.total_bytes} bytes is over the {max_bytes}-byte limit")
        elif kind == "audio_chunk":
            if header is None:
                raise invalid_argument("audio_chunk", "send an AudioHeader before the chunks")
            size += len(message.audio_chunk.data)
            if size > max_bytes:
                raise too_large("audio", f"more than the {max_bytes}-byte limit")
            parts.append(message.audio_chunk.data)
            if message.audio_chunk.last:
                finished = True
                break
        else:
            raise invalid_argument("message", "an empty message: send options, audio_header or audio_chunk")
    if header is None or checked is None or not finished:
        raise invalid_argument("audio", "the stream ended before the chunk marked last")
    with request_errors():
        samples, sample_rate = await asyncio.to_thread(decode_upload, b"".join(parts), header)
    return Upload(checked, samples, sample_rate)
