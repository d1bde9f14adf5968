"""Source separation of any audio with a loaded demucs model: validation, resampling to the model's rate,
chunked overlap-add inference by `demucs.apply.apply_model`, progress and cancellation between chunks."""

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch
from demucs.apply import apply_model
from demucs.audio import convert_audio

from dgxmusic.models import Demucs
from separator.errors import AudioTooLong, InvalidAudio, InvalidOption, SeparationCancelled
from separator.weights import AnyModel, members

Stems = dict[str, npt.NDArray[np.float32]]
ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]

# Shorter audio may resample to less than one frame at the model's rate, which demucs cannot take.
MIN_SECONDS: Final = 0.01
MIN_SAMPLE_RATE: Final = 8000
MAX_SAMPLE_RATE: Final = 192000
# -100 dBFS: below this the input is treated as silence (demucs divides by the mix's standard deviation). A constant
# offset (DC) is no signal either: it is left out when the peak is measured.
SILENCE_PEAK: Final = 1e-5
# demucs' own `demucs.api.Separator` adds this to the deviation it divides by.
_STD_EPSILON: Final = 1e-8
MAX_SHIFTS: Final = Demucs.MAX_SHIFTS
MAX_OVERLAP: Final = Demucs.MAX_OVERLAP
MIN_SEGMENT: Final = Demucs.MIN_SEGMENT
# demucs pads by half a second of the model's rate for its random shifts (demucs.apply.apply_model).
_SHIFT_SECONDS: Final = 0.5
# The random shifts are drawn from this seed: equal requests give equal stems (results are cached by request hash).
_SHIFT_SEED: Final = 0
TWO_STEMS_PREFIX: Final = "no_"


@dataclass(frozen=True)
class SeparationParams:
    """How to separate, as demucs' own CLI options (`-n` is the model, chosen elsewhere); the field names are the
    request's. `two_stems`: one stem and the rest of the mix as "no_<stem>" (demucs' --two-stems); `shifts`: that many
    passes with random time shifts, averaged (better, slower; 0 is one pass); `overlap`: of neighbouring chunks;
    `segment`: chunk length in seconds, at most the model's own (None: the model's)."""

    two_stems: str | None = None
    shifts: int = 0
    overlap: float = 0.25
    segment: float | None = None

    def check(self) -> None:
        """Raises InvalidOption naming the field at fault (what needs no model; the model checks the rest)."""
        if not 0 <= self.shifts <= MAX_SHIFTS:
            raise InvalidOption("shifts", f"must be 0-{MAX_SHIFTS}, got {self.shifts}")
        if not (math.isfinite(self.overlap) and 0 <= self.overlap <= MAX_OVERLAP):
            raise InvalidOption("overlap", f"must be 0-{MAX_OVERLAP:g}, got {self.overlap!r}")
        if self.segment is not None and not (math.isfinite(self.segment) and self.segment >= MIN_SEGMENT):
            raise InvalidOption("segment", f"must be at least {MIN_SEGMENT:g} s, got {self.segment!r}")


def set_threads(threads: int) -> None:
    """Intra-op threads torch uses for separation in this process."""
    torch.set_num_threads(threads)


class _Chunks:
    """Turns apply_model's per-chunk callbacks into a fraction done and a cancellation point."""

    def __init__(self, total: int, on_progress: ProgressCallback | None, is_cancelled: CancelCheck | None) -> None:
        self.total = total
        self.done = 0
        self.on_progress = on_progress
        self.is_cancelled = is_cancelled

    def __call__(self, event: dict[str, Any]) -> None:
        if event["state"] == "start":
            if self.is_cancelled is not None and self.is_cancelled():
                # apply_model lets an exception from its callback abort the remaining chunks.
                raise SeparationCancelled(f"separation cancelled after {self.done} of {self.total} chunks")
            return
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(min(self.done / self.total, 1.0))


class Separator:
    """One loaded demucs model and the limits it runs under."""

    def __init__(self, model: AnyModel, *, max_seconds: float = 600.0, device: str = "cpu") -> None:
        self.model = model
        self.max_seconds = max_seconds
        self.device = device  # "cpu", or "cuda:N" for a GPU instance

    @property
    def sources(self) -> list[str]:
        """Stem names, in the order of the model's outputs."""
        return [str(source) for source in self.model.sources]

    @property
    def sample_rate(self) -> int:
        """The rate the model works at, and the rate of every stem returned."""
        return int(self.model.samplerate)

    @property
    def max_segment(self) -> float:
        """The longest chunk in seconds the model takes (a transformer model's training segment): its members'
        shortest."""
        return min(float(model.segment) for model in members(self.model))

    def chunks(self, frames: int, params: SeparationParams = SeparationParams()) -> int:
        """How many chunks (model calls) separating `frames` frames at the model's rate takes."""
        if params.shifts:
            frames += int(_SHIFT_SECONDS * self.sample_rate)
        total = 0
        for model in members(self.model):
            segment = float(model.segment) if params.segment is None else params.segment
            stride = max(1, int((1 - params.overlap) * int(self.sample_rate * segment)))
            total += len(range(0, frames, stride))
        return total * max(1, params.shifts)

    def check(self, params: SeparationParams) -> None:
        """Raises InvalidOption naming the option this model cannot take."""
        params.check()
        if params.two_stems is not None and params.two_stems not in self.sources:
            stems = ", ".join(self.sources)
            raise InvalidOption("two_stems", f"must be one of this model's stems ({stems}), got {params.two_stems!r}")
        if params.segment is not None and params.segment > self.max_segment:
            raise InvalidOption(
                "segment", f"must be at most this model's {self.max_segment:g} s, got {params.segment:g}"
            )

    def separate(
        self,
        audio: npt.NDArray[np.floating[Any]],
        sample_rate: int,
        params: SeparationParams = SeparationParams(),
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> Stems:
        """Stems of `audio` ([frames] or [frames, channels], 1 or 2 channels, any rate): stem name -> float32
        [frames, 2] at `sample_rate` (the model's), as long as the input resampled to it; with `params.two_stems`,
        that stem and "no_<stem>" (the others summed).

        Raises InvalidAudio / AudioTooLong for bad input and SeparationCancelled when `is_cancelled` turns true.
        """
        self.check(params)
        self._validate(audio, sample_rate)
        if is_cancelled is not None and is_cancelled():
            raise SeparationCancelled("separation cancelled before it started")
        channels_first = np.ascontiguousarray(np.atleast_2d(audio.T) if audio.ndim == 2 else audio[np.newaxis])
        wav = convert_audio(
            torch.from_numpy(channels_first.astype(np.float32)),
            sample_rate,
            self.sample_rate,
            self.model.audio_channels,
        )
        # The same normalisation as demucs' own separate/api: zero mean, unit deviation of the mono mix.
        reference = wav.mean(0)
        mean, std = reference.mean(), reference.std()
        std = std + _STD_EPSILON
        progress = _Chunks(self.chunks(wav.shape[-1], params), on_progress, is_cancelled)
        # apply_model draws its shifts from Python's `random`: seeded, so that equal requests give equal stems.
        drawn = random.getstate()
        random.seed(_SHIFT_SEED)
        try:
            with torch.inference_mode():
                sources = apply_model(
                    self.model,
                    ((wav - mean) / std)[np.newaxis],
                    shifts=params.shifts,
                    split=True,
                    overlap=params.overlap,
                    segment=params.segment,
                    callback=progress,
                    device=self.device,
                )[0].cpu()
        finally:
            random.setstate(drawn)
        sources = sources * std + mean
        stems = {
            name: np.ascontiguousarray(sources[index].T.numpy(), dtype=np.float32)
            for index, name in enumerate(self.sources)
        }
        if params.two_stems is None:
            return stems
        kept = stems.pop(params.two_stems)
        rest = np.sum(list(stems.values()), axis=0, dtype=np.float32)
        return {params.two_stems: kept, f"{TWO_STEMS_PREFIX}{params.two_stems}": np.ascontiguousarray(rest)}

    def _validate(self, audio: npt.NDArray[np.floating[Any]], sample_rate: int) -> None:
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise InvalidAudio("sample_rate", f"must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, got {sample_rate}")
        if audio.ndim not in (1, 2) or (audio.ndim == 2 and audio.shape[1] not in (1, 2)):
            raise InvalidAudio("audio", f"must be [frames] or [frames, 1 or 2 channels], got shape {audio.shape}")
        if not np.issubdtype(audio.dtype, np.floating):
            raise InvalidAudio("audio", f"must be floating-point samples, got {audio.dtype}")
        if audio.shape[0] == 0:
            raise InvalidAudio("audio", "is empty")
        seconds = audio.shape[0] / sample_rate
        if seconds < MIN_SECONDS:
            raise InvalidAudio("audio", f"is {seconds * 1000:.2f} ms long, shorter than {MIN_SECONDS * 1000:g} ms")
        if seconds > self.max_seconds:
            raise AudioTooLong("audio", f"is {seconds:.1f} s long, over the limit of {self.max_seconds:g} s")
        if not np.isfinite(audio).all():
            raise InvalidAudio("audio", "contains NaN or infinite samples")
        # Half each channel's peak-to-peak swing; channels as contiguous rows, where numpy reduces several times
        # faster than across interleaved frames.
        channels = np.ascontiguousarray(audio.T if audio.ndim == 2 else audio[np.newaxis])
        if (channels.max(axis=1) - channels.min(axis=1)).max() < 2 * SILENCE_PEAK:
            reason = "is silent (peak below -100 dBFS, leaving out any constant offset); there is nothing to separate"
            raise InvalidAudio("audio", reason)
