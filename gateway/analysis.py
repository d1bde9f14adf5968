"""Audio analysis as the gateway runs it around Triton: transcription (prepare and window the audio here, Basic
Pitch's model on Triton, notes here) and separation (the decoupled demucs model). Each is an async generator of
events - Progress, then its result - so that Transcribe, Separate and Compose stream them alike."""

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import soxr

import transcriber
from clients.audio import FloatAudio
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.errors import request_errors
from gateway.scope import RequestScope
from gateway.triton import MAX_WINDOWS_PER_REQUEST, Separated, TritonModels


def resample(samples: FloatAudio, from_rate: int, to_rate: int) -> FloatAudio:
    """[frames, channels] float32 at from_rate -> to_rate (soxr, high quality); the same array if equal."""
    if from_rate == to_rate:
        return samples
    return np.asarray(soxr.resample(samples, from_rate, to_rate), dtype=np.float32)


def transcription_params(options: pb.TranscriptionOptions) -> transcriber.TranscriptionParams:
    names = [
        "onset_threshold",
        "frame_threshold",
        "minimum_note_length_ms",
        "minimum_frequency",
        "maximum_frequency",
        "pitch_bends",
        "multiple_pitch_bends",
        "melodia_trick",
    ]
    given = {name: getattr(options, name) for name in names if options.HasField(name)}
    with request_errors(prefix="transcription_options."):
        return transcriber.TranscriptionParams(**given)


def _progress(stage: "pb.Stage", span: tuple[float, float], done: float, message: str) -> pb.Progress:
    start, end = span
    return pb.Progress(stage=stage, fraction=start + (end - start) * done, message=message)


async def transcribe(
    models: TritonModels,
    samples: FloatAudio,
    sample_rate: int,
    params: transcriber.TranscriptionParams,
    scope: RequestScope,
    *,
    max_seconds: float,
    stem_name: str = "",
    span: tuple[float, float] = (0.0, 1.0),
) -> AsyncIterator[pb.Progress | pb.Transcription]:
    label = stem_name or "audio"
    with scope.stage(pb.STAGE_TRANSCRIBING):
        with request_errors():
            prepared = await asyncio.to_thread(transcriber.prepare_audio, samples, sample_rate, max_seconds=max_seconds)
        windows = transcriber.window_audio(prepared)
        parts = [windows[i : i + MAX_WINDOWS_PER_REQUEST] for i in range(0, len(windows), MAX_WINDOWS_PER_REQUEST)]
        tasks = [
            asyncio.create_task(
                models.note_activations(part, deadline=scope.time_left(), request_id=f"{scope.request_id}-{i}")
            )
            for i, part in enumerate(parts)
        ]
        try:
            for done, finished in enumerate(asyncio.as_completed(tasks), start=1):
                await finished
                yield _progress(pb.STAGE_TRANSCRIBING, span, 0.9 * done / len(tasks), f"transcribing {label}")
        finally:
            for task in tasks:
                task.cancel()
        outputs = {name: np.concatenate([task.result()[name] for task in tasks]) for name in transcriber.OUTPUT_BINS}
        result = await asyncio.to_thread(
            transcriber.create_notes, transcriber.unwindow(outputs, prepared.shape[0]), params
        )
    yield pb.Transcription(
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
    models: TritonModels,
    samples: FloatAudio,
    sample_rate: int,
    scope: RequestScope,
    *,
    span: tuple[float, float] = (0.0, 1.0),
) -> AsyncIterator[pb.Progress | Separated]:
    with scope.stage(pb.STAGE_SEPARATING):
        stream = models.separate(samples, sample_rate, deadline=scope.time_left(), request_id=scope.request_id)
        async for event in stream:
            if isinstance(event, Separated):
                yield event
            else:
                yield _progress(pb.STAGE_SEPARATING, span, event, "separating")
