"""Fine-tuning MusicGen as a job (JobService's `train`): the caller's audio files arrive with the job and are kept
in its input artifact (`receive_files`, each file an AudioHeader naming it in stem_name, then its chunks); a run
(`train`, what the job runner calls) decodes them, brings them to MusicGen's rate, and streams them with the recipe
to the musicgen_train model, passing its steps and losses on as progress and ending with the adapter it saved. A
run taken up again after a crash sends the same request, and the model resumes from its last checkpoint."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from dgxmusic import audio
from dgxmusic.audio import FloatAudio
from dgxmusic.models import MUSICGEN, MUSICGEN_TRAIN, Musicgen
from dgxmusic.v1 import audio_pb2, jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway import analysis, validation
from gateway.errors import invalid_argument, request_errors, too_large
from gateway.progress import RECEIVED, Span
from gateway.readiness import Need
from gateway.scope import RequestScope, owner_tag
from gateway.service import MusicService, adapter_message
from gateway.triton import TrainingClips, TrainingStep
from gateway.uploads import audio_parts

# Files one training takes: a folder of songs, not a library.
MAX_FILES = 1000
# File names travel as the stream's name and the model's clip names: no folders, nothing unprintable.
_MAX_NAME_CHARS = 255


def check_file_name(name: str, seen: set[str]) -> None:
    if not name:
        raise invalid_argument("audio_header.stem_name", "name each file (its file name) in its AudioHeader")
    if len(name) > _MAX_NAME_CHARS or "/" in name or not name.isprintable():
        raise invalid_argument("audio_header.stem_name", f"not a file name: {name[:80]!r}")
    if name in seen:
        raise invalid_argument("audio_header.stem_name", f"file {name!r} is sent twice")
    seen.add(name)


async def receive_files(
    messages: AsyncIterator[jobs_pb2.SubmitJobRequest], *, max_bytes: int, idle_seconds: float
) -> AsyncIterator[audio_pb2.AudioHeader | audio_pb2.AudioChunk]:
    """A train job's files as they arrive, each checked as audio_parts checks one (in order, within its declared
    size), all of them within `max_bytes` together; at least one."""
    pending = aiter(messages)
    seen: set[str] = set()
    total = 0
    while (first := await anext(pending, None)) is not None:
        if len(seen) == MAX_FILES:
            raise too_large("audio_header", f"at most {MAX_FILES} files per training")

        async def one_file(first: jobs_pb2.SubmitJobRequest = first) -> AsyncIterator[jobs_pb2.SubmitJobRequest]:
            yield first
            async for message in pending:
                yield message

        async for part in audio_parts(one_file(), max_bytes=max_bytes - total, idle_seconds=idle_seconds):
            if isinstance(part, audio_pb2.AudioHeader):
                check_file_name(part.stem_name, seen)
            else:
                total += len(part.data)
            yield part
    if not seen:
        raise invalid_argument("data", "no audio files: send each file after the request")


def _decoded(name: str, data: bytes, header: audio_pb2.AudioHeader) -> FloatAudio:
    """One file at MusicGen's rate, in stereo (the model takes what it needs of it)."""
    with request_errors():
        try:
            samples, sample_rate = audio.decode_upload(data, header)
        except audio.AudioFormatError as exc:
            raise audio.AudioFormatError("data", f"{name}: {exc.reason}") from exc
    resampled = analysis.resample(samples, sample_rate, Musicgen.SAMPLE_RATE)
    return np.repeat(resampled, 2, axis=1) if resampled.shape[1] == 1 else resampled


async def _clips(messages: AsyncIterator[jobs_pb2.SubmitJobRequest], captions: dict[str, str]) -> TrainingClips:
    """The stored files, decoded one at a time (off the event loop)."""
    clips = TrainingClips([], [], [])
    header, parts = audio_pb2.AudioHeader(), list[bytes]()
    async for message in messages:
        if message.HasField("audio_header"):
            header, parts = message.audio_header, list[bytes]()
        elif message.HasField("audio_chunk"):
            parts.append(message.audio_chunk.data)
            if message.audio_chunk.last:
                name = header.stem_name
                clips.audio.append(await asyncio.to_thread(_decoded, name, b"".join(parts), header))
                clips.names.append(name)
                clips.captions.append(captions.get(name, "").strip())
    if unknown := sorted(set(captions) - set(clips.names)):
        raise invalid_argument("captions", f"captions for files not sent: {', '.join(unknown)}")
    return clips


def _step_progress(step: TrainingStep, elapsed: float, span: Span) -> pb.Progress:
    fraction = step.step / step.steps if step.steps else 0.0
    left = elapsed / fraction * (1 - fraction) if fraction > 0 else 0.0
    return pb.Progress(
        stage=pb.STAGE_TRAINING,
        fraction=span.at(fraction),
        message=f"step {step.step}/{step.steps}, loss {step.loss:.4f}",
        done=step.step,
        total=step.steps,
        seconds_left=left,
        loss=step.loss,
    )


async def train(
    service: MusicService, messages: AsyncIterator[jobs_pb2.SubmitJobRequest], scope: RequestScope
) -> AsyncIterator[pb.TrainResponse]:
    """A train job's run: its request (the first message), then its stored files."""
    first = await anext(aiter(messages))
    call = validation.train(first.request.train)
    # The base model's weights, as GenerateAudio checks them, and the training model itself.
    await service.readiness.require([Need("model", MUSICGEN, call.model), Need("model", MUSICGEN_TRAIN)])
    out = service._responses(pb.TrainResponse, scope, cached=False)
    yield out.progress(pb.STAGE_RECEIVING, 0.0, "decoding the audio files")
    with scope.stage(pb.STAGE_RECEIVING):
        clips = await _clips(messages, call.captions)
    yield out.progress(pb.STAGE_RECEIVING, RECEIVED, f"{len(clips.names)} files decoded")
    # The adapter is its owner's: generation and ListModels show it to its owner alone.
    owner = owner_tag(scope.key_name)
    recipe: dict[str, Any] = {"name": call.name, "model": call.model, "config": call.config, "owner": owner}
    span = Span(RECEIVED, 1.0)
    adapter = None
    with scope.stage(pb.STAGE_TRAINING):
        began = time.perf_counter()
        stream = service.models.train(clips, recipe, deadline=scope.time_left(), request_id=scope.request_id)
        async for event in stream:
            if isinstance(event, TrainingStep):
                yield out.progress_of(_step_progress(event, time.perf_counter() - began, span))
            else:
                adapter = event
    assert adapter is not None  # the stream ends with the adapter or raises
    scope.log_fields.update(adapter=adapter.name, adapter_validation_loss=adapter.adapter_validation_loss)
    yield out.recorded(pb.TrainResponse(adapter=adapter_message(adapter)))
    yield out.progress(pb.STAGE_TRAINING, 1.0, "done")
    yield out.summary()
