"""`transcribe`: audio in, notes and MIDI out, in process: the transcription pipeline around the ONNX model."""

import functools

import numpy.typing as npt

from transcriber.audio import DEFAULT_MAX_SECONDS
from transcriber.notes import Transcription, TranscriptionParams
from transcriber.pipeline import finish, prepare
from transcriber.runner import NoteModel


@functools.cache
def default_model() -> NoteModel:
    """The shipped model with default threads, loaded once per process."""
    return NoteModel()


def transcribe(
    audio: npt.ArrayLike,
    sample_rate: int,
    params: TranscriptionParams | None = None,
    *,
    model: NoteModel | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> Transcription:
    """Transcribe `audio` ([frames] or [frames, channels] float, any rate) to notes and MIDI."""
    prepared = prepare(audio, sample_rate, max_seconds=max_seconds)
    outputs = (model or default_model()).predict(prepared.windows)
    return finish(prepared, outputs, params or TranscriptionParams())
