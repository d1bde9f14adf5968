"""How a render is mixed: FluidSynth's reverb and chorus, the level the mix is brought to (its peak, or its integrated
loudness by ITU-R BS.1770 with pyloudnorm), a gain on top, and a peak ceiling that nothing passes, so a render never
clips. One gain scales the mix and every stem alike, so the stems still add up to the mix."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from dgxmusic.errors import FieldError

MIN_GAIN_DB = -60.0
MAX_GAIN_DB = 24.0
MAX_CHORUS_LEVEL = 10.0  # FluidSynth's synth.chorus.level range is 0-10
MIN_LOUDNESS_LUFS = -60.0
MAX_LOUDNESS_LUFS = -5.0
MIN_PEAK_CEILING_DBFS = -20.0
DEFAULT_PEAK_CEILING_DBFS = -1.0
# BS.1770's gating block: shorter audio has no integrated loudness, and is brought to its peak instead.
_LOUDNESS_BLOCK_SECONDS = 0.4


@dataclass(frozen=True)
class MixSettings:
    """A render's effects and levels; None leaves FluidSynth's own setting (reverb level 0.9, room size 0.2, chorus
    level 2) and, for loudness_lufs, brings the mix's peak to the ceiling instead of a loudness. Invalid values raise
    FieldError naming the field."""

    gain_db: float = 0.0
    reverb_level: float | None = None  # 0-1; 0 turns the reverb off
    reverb_room_size: float | None = None  # 0-1
    chorus_level: float | None = None  # 0-10; 0 turns the chorus off
    loudness_lufs: float | None = None  # integrated loudness target, -60..-5 LUFS
    peak_ceiling_dbfs: float = DEFAULT_PEAK_CEILING_DBFS  # -20..0 dBFS

    def __post_init__(self) -> None:
        _check_range("gain_db", self.gain_db, MIN_GAIN_DB, MAX_GAIN_DB)
        _check_range("reverb_level", self.reverb_level, 0.0, 1.0)
        _check_range("reverb_room_size", self.reverb_room_size, 0.0, 1.0)
        _check_range("chorus_level", self.chorus_level, 0.0, MAX_CHORUS_LEVEL)
        _check_range("loudness_lufs", self.loudness_lufs, MIN_LOUDNESS_LUFS, MAX_LOUDNESS_LUFS)
        _check_range("peak_ceiling_dbfs", self.peak_ceiling_dbfs, MIN_PEAK_CEILING_DBFS, 0.0)

    def to_json(self) -> str:
        """The settings as the fluidsynth model's OPTIONS tensor carries them (and the cache keys hold them)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> MixSettings:
        """Settings from to_json's text; empty for the defaults. Unknown or mistyped fields raise FieldError."""
        if not text:
            return cls()
        try:
            given = json.loads(text)
        except ValueError as exc:
            raise FieldError("options", f"not JSON: {exc}") from None
        if not isinstance(given, dict):
            raise FieldError("options", "must be a JSON object")
        known = {field.name for field in fields(cls)}
        for name, value in given.items():
            if name not in known:
                raise FieldError("options", f"unknown render option {name!r}")
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise FieldError(name, f"must be a number, got {value!r}")
        chosen: dict[str, Any] = {name: _float(value) for name, value in given.items()}
        return cls(**chosen)

    def synth_settings(self) -> dict[str, float | int]:
        """The FluidSynth settings (name -> number) these effects set; nothing for what is left at its default."""
        chosen: dict[str, float | int] = {}
        if self.reverb_level is not None:
            chosen["synth.reverb.active"] = int(self.reverb_level > 0)
            chosen["synth.reverb.level"] = self.reverb_level
        if self.reverb_room_size is not None:
            chosen["synth.reverb.room-size"] = self.reverb_room_size
        if self.chorus_level is not None:
            chosen["synth.chorus.active"] = int(self.chorus_level > 0)
            chosen["synth.chorus.level"] = self.chorus_level
        return chosen


def mix_gain(mix: npt.NDArray[np.float32], sample_rate: int, settings: MixSettings) -> float:
    """The one gain for the mix (and its stems): to the loudness target (or the peak to the ceiling), plus gain_db,
    then lowered where the peak would pass the ceiling. Silence gets 1."""
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    if peak == 0.0:
        return 1.0
    ceiling = 10 ** (settings.peak_ceiling_dbfs / 20)
    loudness = integrated_loudness(mix, sample_rate) if settings.loudness_lufs is not None else None
    if settings.loudness_lufs is not None and loudness is not None:
        gain = 10 ** ((settings.loudness_lufs - loudness) / 20)
    else:
        gain = ceiling / peak
    gain *= 10 ** (settings.gain_db / 20)
    # float32 rounding of audio * gain must not carry the peak over the ceiling either.
    return float(np.float32(min(gain, ceiling / peak) * (1 - 1e-6)))


def integrated_loudness(audio: npt.NDArray[np.float32], sample_rate: int) -> float | None:
    """Integrated loudness in LUFS (ITU-R BS.1770-4, as pyloudnorm measures it) of [frames, channels] audio; None
    for audio too short to measure or too quiet to pass the gate (silence)."""
    import pyloudnorm  # type: ignore[import-untyped]  # imported by the renders that ask for loudness only

    if audio.shape[0] < _LOUDNESS_BLOCK_SECONDS * sample_rate:
        return None
    loudness = float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio.astype(np.float64)))
    return loudness if math.isfinite(loudness) else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _check_range(field: str, value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldError(field, f"must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise FieldError(field, f"must be within {low:g}..{high:g}, got {value:g}")
