"""Fixed model windows: audio cut into basic-pitch's overlapping 43,844-sample windows, and the model's outputs
per window joined back into one array per output. Every window has the same shape, so the windows of any number
of requests can share one model batch."""

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from transcriber._basic_pitch import (
    AUDIO_N_SAMPLES,
    FFT_HOP,
    N_FREQ_BINS_CONTOURS,
    N_FREQ_BINS_NOTES,
    unwrap_output,
    window_audio_file,
)
from transcriber.audio import Audio

WINDOW_SAMPLES: int = AUDIO_N_SAMPLES
# basic_pitch.inference.run_inference's layout: windows overlap by 30 output frames, and half of that overlap is
# dropped from each side of every window when the outputs are joined.
OVERLAP_FRAMES = 30
OVERLAP_SAMPLES: int = OVERLAP_FRAMES * FFT_HOP
HOP_SAMPLES: int = WINDOW_SAMPLES - OVERLAP_SAMPLES
WINDOW_FRAMES: int = WINDOW_SAMPLES // FFT_HOP + 1
# Model output name -> frequency bins per frame.
OUTPUT_BINS: dict[str, int] = {"note": N_FREQ_BINS_NOTES, "onset": N_FREQ_BINS_NOTES, "contour": N_FREQ_BINS_CONTOURS}

Windows = npt.NDArray[np.float32]
ModelOutputs = dict[str, npt.NDArray[np.float32]]


def window_count(samples: int) -> int:
    """How many windows `window_audio` makes of `samples` samples at the model rate."""
    return math.ceil((samples + OVERLAP_SAMPLES // 2) / HOP_SAMPLES)


def window_audio(audio: Audio) -> Windows:
    """Mono model-rate audio -> [windows, WINDOW_SAMPLES, 1], zero-padded as basic-pitch pads it."""
    padded = np.concatenate([np.zeros(OVERLAP_SAMPLES // 2, dtype=np.float32), audio])
    windows: Windows = np.stack([window for window, _ in window_audio_file(padded, HOP_SAMPLES)], dtype=np.float32)
    return windows


def join_outputs(parts: Iterable[ModelOutputs]) -> ModelOutputs:
    """The model's outputs for consecutive runs of windows, in order -> its outputs for all of them."""
    parts = list(parts)
    return {name: np.concatenate([part[name] for part in parts]) for name in OUTPUT_BINS}


def unwindow(outputs: ModelOutputs, samples: int) -> ModelOutputs:
    """Per-window outputs of one request ([windows, WINDOW_FRAMES, bins] each) -> one [frames, bins] array each,
    trimmed to the length of the `samples`-long audio."""
    expected = window_count(samples)
    for name, bins in OUTPUT_BINS.items():
        shape = outputs[name].shape if name in outputs else None
        if shape != (expected, WINDOW_FRAMES, bins):
            raise ValueError(f"model output {name!r} has shape {shape}, expected {(expected, WINDOW_FRAMES, bins)}")
    return {name: unwrap_output(outputs[name], samples, OVERLAP_FRAMES) for name in OUTPUT_BINS}
