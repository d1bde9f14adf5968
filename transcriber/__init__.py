"""Audio -> MIDI with Spotify's Basic Pitch on onnxruntime (the ONNX model shipped in its wheel).

`transcribe` does it all in process. Split, as the gateway runs it around the Triton `basic_pitch` model:
`prepare_audio` -> `window_audio` -> model (`NoteModel.predict`, or Triton) -> `unwindow` -> `create_notes`.
"""

from transcriber.api import default_model, transcribe
from transcriber.audio import (
    DEFAULT_MAX_SECONDS,
    DEFAULT_MIN_SECONDS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    MODEL_SAMPLE_RATE,
    check_sample_rate,
    prepare_audio,
)
from transcriber.errors import AudioTooLong, InvalidAudio, InvalidTranscriptionRequest
from transcriber.notes import Note, Transcription, TranscriptionParams, create_notes
from transcriber.runner import DEFAULT_THREADS, NoteModel, check_windows
from transcriber.windows import (
    HOP_SAMPLES,
    OUTPUT_BINS,
    WINDOW_FRAMES,
    WINDOW_SAMPLES,
    ModelOutputs,
    Windows,
    unwindow,
    window_audio,
    window_count,
)

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MIN_SECONDS",
    "DEFAULT_THREADS",
    "HOP_SAMPLES",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "MODEL_SAMPLE_RATE",
    "OUTPUT_BINS",
    "WINDOW_FRAMES",
    "WINDOW_SAMPLES",
    "AudioTooLong",
    "InvalidAudio",
    "InvalidTranscriptionRequest",
    "ModelOutputs",
    "Note",
    "NoteModel",
    "Transcription",
    "TranscriptionParams",
    "Windows",
    "check_sample_rate",
    "check_windows",
    "create_notes",
    "default_model",
    "prepare_audio",
    "transcribe",
    "unwindow",
    "window_audio",
    "window_count",
]
