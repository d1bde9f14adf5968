"""Audio -> MIDI with Spotify's Basic Pitch on onnxruntime (the ONNX model shipped in its wheel).

`transcribe` does it all in process. The gateway runs the same pipeline around the Triton `basic_pitch` model:
`prepare` (`prepare_audio` -> `window_audio`) -> the model on the windows -> `finish` (`unwindow` -> `create_notes`).
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
from transcriber.pipeline import Prepared, finish, prepare
from transcriber.runner import DEFAULT_THREADS, NoteModel, check_windows
from transcriber.windows import (
    HOP_SAMPLES,
    OUTPUT_BINS,
    WINDOW_FRAMES,
    WINDOW_SAMPLES,
    ModelOutputs,
    Windows,
    join_outputs,
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
    "Prepared",
    "Transcription",
    "TranscriptionParams",
    "Windows",
    "check_sample_rate",
    "check_windows",
    "create_notes",
    "default_model",
    "finish",
    "join_outputs",
    "prepare",
    "prepare_audio",
    "transcribe",
    "unwindow",
    "window_audio",
    "window_count",
]
