"""Model outputs -> notes and a MIDI file, with basic-pitch's own note creation and its defaults."""

import io
import math
from dataclasses import dataclass

import numpy as np

from transcriber._basic_pitch import (
    AUDIO_SAMPLE_RATE,
    FFT_HOP,
    MIDI_OFFSET,
    N_FREQ_BINS_NOTES,
    drop_overlapping_pitch_bends,
    get_pitch_bends,
    model_frames_to_time,
    note_events_to_midi,
)
from transcriber.decoding import note_events
from transcriber.errors import InvalidTranscriptionRequest
from transcriber.windows import ModelOutputs

MAX_NOTE_LENGTH_MS = 10_000.0
MAX_FREQUENCY = AUDIO_SAMPLE_RATE / 2
MAX_MIDI_TEMPO = 1000.0


@dataclass(frozen=True)
class TranscriptionParams:
    """Note-creation settings, defaults as in `basic_pitch.inference.predict`; invalid values raise
    `InvalidTranscriptionRequest` naming the field.

    `minimum_frequency` and `maximum_frequency` keep the notes whose nearest piano key lies between them, both
    ends included (basic-pitch's own filter leaves out the key at the maximum, and inverts itself for frequencies
    below the lowest key, A0 = 27.5 Hz)."""

    onset_threshold: float = 0.5
    frame_threshold: float = 0.3
    minimum_note_length_ms: float = 127.70
    minimum_frequency: float | None = None
    maximum_frequency: float | None = None
    pitch_bends: bool = True
    multiple_pitch_bends: bool = False
    melodia_trick: bool = True
    midi_tempo: float = 120.0

    def __post_init__(self) -> None:
        for field in ("onset_threshold", "frame_threshold"):
            if not 0 <= _finite(field, getattr(self, field)) <= 1:
                raise InvalidTranscriptionRequest(field, f"a threshold must be 0-1, not {getattr(self, field)}")
        if not 0 <= _finite("minimum_note_length_ms", self.minimum_note_length_ms) <= MAX_NOTE_LENGTH_MS:
            reason = f"must be 0-{MAX_NOTE_LENGTH_MS} ms, not {self.minimum_note_length_ms}"
            raise InvalidTranscriptionRequest("minimum_note_length_ms", reason)
        for field in ("minimum_frequency", "maximum_frequency"):
            value = getattr(self, field)
            if value is not None and not 0 < _finite(field, value) <= MAX_FREQUENCY:
                raise InvalidTranscriptionRequest(field, f"must be above 0 and at most {MAX_FREQUENCY} Hz, not {value}")
        low, high = self.minimum_frequency, self.maximum_frequency
        if low is not None and high is not None and low >= high:
            raise InvalidTranscriptionRequest("maximum_frequency", f"{high} Hz is not above minimum_frequency {low} Hz")
        for field in ("pitch_bends", "multiple_pitch_bends", "melodia_trick"):
            if not isinstance(getattr(self, field), bool):
                raise InvalidTranscriptionRequest(field, f"must be true or false, not {getattr(self, field)!r}")
        if not 0 < _finite("midi_tempo", self.midi_tempo) <= MAX_MIDI_TEMPO:
            raise InvalidTranscriptionRequest("midi_tempo", f"must be above 0 and at most {MAX_MIDI_TEMPO} BPM")

    @property
    def pitch_bins(self) -> tuple[int, int]:
        """The note bins (0 = A0) kept by the frequency range, `(first, last)` both included; empty when
        `last < first`."""
        first = 0 if self.minimum_frequency is None else _nearest_bin(self.minimum_frequency)
        last = N_FREQ_BINS_NOTES - 1 if self.maximum_frequency is None else _nearest_bin(self.maximum_frequency)
        return max(first, 0), min(last, N_FREQ_BINS_NOTES - 1)

    @property
    def minimum_note_frames(self) -> int:
        """The minimum note length in model frames, rounded as `predict` rounds it."""
        return round(self.minimum_note_length_ms / 1000 * (AUDIO_SAMPLE_RATE / FFT_HOP))


@dataclass(frozen=True)
class Note:
    """One transcribed note. `pitch_bends` are offsets from `pitch` in thirds of a semitone, evenly spaced from
    `start` to `end`; empty when pitch bends are off or were dropped because the note overlaps another."""

    start: float
    end: float
    pitch: int
    amplitude: float
    pitch_bends: tuple[int, ...] = ()

    @property
    def velocity(self) -> int:
        return round(127 * self.amplitude)


@dataclass(frozen=True)
class Transcription:
    """A Standard MIDI File and the notes it holds, ordered by start time then pitch."""

    midi: bytes
    notes: list[Note]


def create_notes(outputs: ModelOutputs, params: TranscriptionParams) -> Transcription:
    """Unwindowed model outputs ([frames, bins] each) -> notes and MIDI."""
    first, last = params.pitch_bins
    outputs = dict(outputs)
    for name in ("note", "onset"):  # the frequency range, applied here rather than by basic-pitch (see the params)
        kept = np.zeros_like(outputs[name])
        if first <= last:
            kept[:, first : last + 1] = outputs[name][:, first : last + 1]
        outputs[name] = kept
    # basic_pitch.note_creation.model_output_to_notes, with its decoding's faster twin (transcriber.decoding).
    # basic-pitch rescales inferred onsets by their maximum, 0/0 when no bin is active; no note comes of it.
    with np.errstate(divide="ignore", invalid="ignore"):
        in_frames = note_events(
            outputs["note"],
            outputs["onset"],
            onset_thresh=params.onset_threshold,
            frame_thresh=params.frame_threshold,
            min_note_len=params.minimum_note_frames,
            melodia_trick=params.melodia_trick,
        )
    if params.pitch_bends:
        with_bends = get_pitch_bends(outputs["contour"], in_frames)
    else:
        with_bends = [(*event, None) for event in in_frames]
    times = model_frames_to_time(outputs["contour"].shape[0])
    events = [(times[start], times[end], pitch, amplitude, bends) for start, end, pitch, amplitude, bends in with_bends]
    midi = note_events_to_midi(events, params.multiple_pitch_bends, params.midi_tempo)
    # The MIDI file drops the bends of overlapping notes unless multiple_pitch_bends; the list says the same.
    events = sorted(events) if params.multiple_pitch_bends else drop_overlapping_pitch_bends(events)
    notes = [
        Note(float(start), float(end), int(pitch), float(amplitude), tuple(int(bend) for bend in bends or ()))
        for start, end, pitch, amplitude, bends in events
    ]
    buffer = io.BytesIO()
    midi.write(buffer)
    return Transcription(midi=buffer.getvalue(), notes=notes)


def _nearest_bin(frequency: float) -> int:
    """The note bin of the piano key nearest `frequency` (may lie outside the 88 keys), rounded as basic-pitch
    rounds it."""
    return int(np.round(69 + 12 * math.log2(frequency / 440.0) - MIDI_OFFSET))


def _finite(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidTranscriptionRequest(field, f"must be a finite number, not {value!r}")
    return float(value)
