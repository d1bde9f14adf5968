"""`transcribe`: audio in, notes and MIDI out, in process; the same steps the gateway runs around Triton."""

import functools

import numpy.typing as npt

from transcriber.audio import DEFAULT_MAX_SECONDS, prepare_audio
from transcriber.notes import Transcription, TranscriptionParams, create_notes
from transcriber.runner import NoteModel
from transcriber.windows import unwindow, window_audio


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
    prepared = prepare_audio(audio, sample_rate, max_seconds=max_seconds)
    outputs = (model or default_model()).predict(window_audio(prepared))
    return create_notes(unwindow(outputs, prepared.shape[0]), params or TranscriptionParams())
