"""Audio analysis as the gateway runs it around Triton: transcription (transcriber's pipeline here, with Basic
Pitch's model on Triton) and separation (the decoupled demucs model). Each is an async generator of
events - Progress, then its result - so that Transcribe, Separate and Compose stream them alike."""

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import numpy.typing as npt
import soxr

import transcriber
from dgxmusic.audio import FloatAudio
from dgxmusic.models import BasicPitch
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.errors import request_errors
from gateway.progress import WHOLE, Span
from gateway.scope import RequestScope
from gateway.triton import DEMUCS_DEFAULTS, DemucsOptions, Models, Separated


def resample(samples: FloatAudio, from_rate: int, to_rate: int) -> FloatAudio:
    """[frames, channels] float32 at from_rate -> to_rate (soxr, high quality); the same array if equal."""
    if from_rate == to_rate:
        return samples
    return np.asarray(soxr.resample(samples, from_rate, to_rate), dtype=np.float32)


# Requests of one transcription sent side by side: the embedded basic_pitch model runs two one-thread instances, and
# requests of equal size keep both busy to the end (64 + 10 windows would leave one idle most of the time).
PARALLEL_REQUESTS = 2


def even_parts(windows: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
    """The windows in a multiple of PARALLEL_REQUESTS parts of (nearly) equal size, each at most
    BasicPitch.MAX_WINDOWS_PER_REQUEST."""
    count = -(-len(windows) // BasicPitch.MAX_WINDOWS_PER_REQUEST)
    count = min(len(windows), -(-count // PARALLEL_REQUESTS) * PARALLEL_REQUESTS)
    return [part for part in np.array_split(windows, max(count, 1)) if len(part)]


async def transcribe(
    models: Models,
    samples: FloatAudio,
    sample_rate: int,
    params: transcriber.TranscriptionParams,
    scope: RequestScope,
    *,
    max_seconds: float,
    stem_name: str = "",
    span: Span = WHOLE,
) -> AsyncIterator[pb.Progress | pb.Transcription]:
    """The transcription pipeline with Triton's basic_pitch as its model: Progress as each request of windows comes
    back (up to 90% of `span`), then the transcription."""
    label = stem_name or "audio"
    with scope.stage(pb.STAGE_TRANSCRIBING):
        with request_errors():
            prepared = await asyncio.to_thread(transcriber.prepare, samples, sample_rate, max_seconds=max_seconds)
        parts = even_parts(prepared.windows)
        tasks = [
            asyncio.create_task(
                models.note_activations(part, deadline=scope.time_left(), request_id=f"{scope.request_id}-{i}")
            )
            for i, part in enumerate(parts)
        ]
        try:
            for done, finished in enumerate(asyncio.as_completed(tasks), start=1):
                await finished
                fraction = span.at(0.9 * done / len(tasks))
                yield pb.Progress(stage=pb.STAGE_TRANSCRIBING, fraction=fraction, message=f"transcribing {label}")
        finally:
            for task in tasks:
                task.cancel()
        outputs = transcriber.join_outputs(task.result() for task in tasks)
        result = await asyncio.to_thread(transcriber.finish, prepared, outputs, params)
    yield _transcription_message(result, stem_name)


def _transcription_message(result: transcriber.Transcription, stem_name: str) -> pb.Transcription:
    return pb.Transcription(
        stem_name=stem_name,
        midi=result.midi,
        notes=[
            pb.Note(
                start_seconds=note.start,
                end_seconds=note.end,
                pitch=note.pitch,
                velocity=note.velocity,
                amplitude=note.amplitude,
                pitch_bends=note.pitch_bends,
            )
            for note in result.notes
        ],
    )


async def separate(
    models: Models,
    samples: FloatAudio,
    sample_rate: int,
    scope: RequestScope,
    *,
    span: Span = WHOLE,
    options: DemucsOptions = DEMUCS_DEFAULTS,
) -> AsyncIterator[pb.Progress | Separated]:
    with scope.stage(pb.STAGE_SEPARATING):
        stream = models.separate(
            samples, sample_rate, deadline=scope.time_left(), request_id=scope.request_id, options=options
        )
        async for event in stream:
            if isinstance(event, Separated):
                yield event
            else:
                yield pb.Progress(stage=pb.STAGE_SEPARATING, fraction=span.at(event), message="separating")
