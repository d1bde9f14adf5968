"""Frame and onset activations -> note events in model frames: basic-pitch's own decoding
(`note_creation.output_to_notes_polyphonic`, 0.4.0), step for step, with one change that gives the same notes faster.

Its melodia trick repeatedly takes the strongest activation left (`np.argmax` over the whole [frames, 88] array, after
an `np.max` over it, once per note it traces: about half the time of a transcription's note creation). Values left
only ever drop to 0, so the strongest one left is the first not yet zeroed in one descending sort of those above the
threshold, ties in array order (what `argmax` picks): one sort instead of two passes over the array per note.
tests/test_transcriber.py holds the notes equal to basic-pitch's on real and random activations."""

import numpy as np
import numpy.typing as npt
import scipy.signal

from transcriber._basic_pitch import MIDI_OFFSET, N_FREQ_BINS_NOTES, get_infered_onsets

# basic-pitch's defaults: frames below the threshold a note may span before it ends.
ENERGY_TOLERANCE = 11
_LAST_BIN = N_FREQ_BINS_NOTES - 1

NoteEvent = tuple[int, int, int, float]  # start frame, end frame, MIDI pitch, amplitude


def note_events(
    frames: npt.NDArray[np.float32],
    onsets: npt.NDArray[np.float32],
    *,
    onset_thresh: float,
    frame_thresh: float,
    min_note_len: int,
    melodia_trick: bool = True,
) -> list[NoteEvent]:
    """`output_to_notes_polyphonic(frames, onsets, ..., infer_onsets=True, max_freq=None, min_freq=None)`'s events,
    in its order."""
    n_frames = frames.shape[0]
    onsets = get_infered_onsets(onsets, frames)
    peak_thresh_mat = np.zeros(onsets.shape)
    peaks = scipy.signal.argrelmax(onsets, axis=0)
    peak_thresh_mat[peaks] = onsets[peaks]
    onset_idx = np.where(peak_thresh_mat >= onset_thresh)
    remaining_energy = np.zeros(frames.shape)
    remaining_energy[:, :] = frames[:, :]

    events: list[NoteEvent] = []
    for note_start_idx, freq_idx in zip(onset_idx[0][::-1], onset_idx[1][::-1], strict=True):  # backwards in time
        if note_start_idx >= n_frames - 1:
            continue
        i = note_start_idx + 1
        k = 0  # frames since the energy dropped below the threshold
        while i < n_frames - 1 and k < ENERGY_TOLERANCE:
            k = k + 1 if remaining_energy[i, freq_idx] < frame_thresh else 0
            i += 1
        i -= k
        if i - note_start_idx <= min_note_len:
            continue
        remaining_energy[note_start_idx:i, freq_idx] = 0
        if freq_idx < _LAST_BIN:
            remaining_energy[note_start_idx:i, freq_idx + 1] = 0
        if freq_idx > 0:
            remaining_energy[note_start_idx:i, freq_idx - 1] = 0
        events.append((note_start_idx, i, freq_idx + MIDI_OFFSET, np.mean(frames[note_start_idx:i, freq_idx])))

    if melodia_trick:
        events.extend(_melodia_events(frames, remaining_energy, frame_thresh, min_note_len))
    return events


def _melodia_events(
    frames: npt.NDArray[np.float32],
    remaining_energy: npt.NDArray[np.float64],
    frame_thresh: float,
    min_note_len: int,
) -> list[NoteEvent]:
    """The melodia trick's notes, traced from the strongest energy left down to the threshold (zeroing what each
    note takes, as basic-pitch does)."""
    n_frames = frames.shape[0]
    flat = remaining_energy.reshape(-1)
    candidates = np.flatnonzero(flat > frame_thresh)
    # Strongest first; a stable sort keeps equal values in array order, as argmax takes the first of them.
    order = candidates[np.argsort(-flat[candidates], kind="stable")]
    events: list[NoteEvent] = []
    for index in order.tolist():
        if not flat[index] > frame_thresh:  # zeroed by a note traced before
            continue
        i_mid, freq_idx = divmod(index, N_FREQ_BINS_NOTES)
        remaining_energy[i_mid, freq_idx] = 0

        i = i_mid + 1  # forward
        k = 0
        while i < n_frames - 1 and k < ENERGY_TOLERANCE:
            k = k + 1 if remaining_energy[i, freq_idx] < frame_thresh else 0
            _zero_around(remaining_energy, i, freq_idx)
            i += 1
        i_end = i - 1 - k

        i = i_mid - 1  # backward
        k = 0
        while i > 0 and k < ENERGY_TOLERANCE:
            k = k + 1 if remaining_energy[i, freq_idx] < frame_thresh else 0
            _zero_around(remaining_energy, i, freq_idx)
            i -= 1
        i_start = i + 1 + k

        if i_end - i_start <= min_note_len:
            continue
        events.append((i_start, i_end, freq_idx + MIDI_OFFSET, np.mean(frames[i_start:i_end, freq_idx])))
    return events


def _zero_around(energy: npt.NDArray[np.float64], frame: int, freq_idx: int) -> None:
    energy[frame, freq_idx] = 0
    if freq_idx < _LAST_BIN:
        energy[frame, freq_idx + 1] = 0
    if freq_idx > 0:
        energy[frame, freq_idx - 1] = 0
