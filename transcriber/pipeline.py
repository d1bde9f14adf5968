"""The steps of a transcription around the model, the same wherever the model runs: `prepare` checks the audio and
cuts it into the model's windows; the model (`NoteModel.predict` in process, Triton's `basic_pitch` in the gateway)
turns the windows into outputs; `finish` turns the outputs into notes and MIDI."""

from dataclasses import dataclass

import numpy.typing as npt

from transcriber.audio import DEFAULT_MAX_SECONDS, prepare_audio
from transcriber.notes import Transcription, TranscriptionParams, create_notes
from transcriber.windows import ModelOutputs, Windows, unwindow, window_audio


@dataclass(frozen=True)
class Prepared:
    """Audio ready for the model: its `windows`, and its length in `samples` at the model rate, which the joined
    outputs are trimmed to."""

    windows: Windows
    samples: int


def prepare(audio: npt.ArrayLike, sample_rate: int, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> Prepared:
    """Check `audio` ([frames] or [frames, channels] float, any rate) and cut it into model windows; raise
    `InvalidTranscriptionRequest` (field "audio" or "sample_rate") for audio that cannot be transcribed."""
    mono = prepare_audio(audio, sample_rate, max_seconds=max_seconds)
    return Prepared(windows=window_audio(mono), samples=mono.shape[0])


def finish(prepared: Prepared, outputs: ModelOutputs, params: TranscriptionParams) -> Transcription:
    """The model's outputs for all of `prepared.windows`, in order -> notes and MIDI."""
    return create_notes(unwindow(outputs, prepared.samples), params)
