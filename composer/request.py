"""What a caller asks for (`SongRequest`), the size limits, and the checks of each field on its own."""

import math
from dataclasses import dataclass

from composer.errors import InvalidSongRequest, SongRequestTooLarge
from composer.score import METER_FORM, meter_named

MAX_PROMPT_CHARS = 2000
MAX_KEY_CHARS = 40  # "E flat harmonic minor" is 21
MIN_BPM = 40
MAX_BPM = 300
MAX_BARS = 512
MAX_SECONDS = 600
MAX_SEED = 2**63 - 1  # the proto's int64


@dataclass(frozen=True)
class SongRequest:
    """A prompt plus explicit overrides; an override wins over what the prompt says."""

    prompt: str
    bpm: float | None = None
    key: str | None = None
    bars: int | None = None
    seconds: float | None = None
    seed: int = 0
    time_signature: str | None = None  # METER_FORM, e.g. "3/4", "6/8" or "11/8"


def check_fields(request: SongRequest) -> None:
    """Field checks that need no prompt parsing; `validate` adds those that do."""
    _check_prompt(request.prompt)
    if request.bpm is not None:
        check_bpm("bpm", request.bpm)
    if request.key is not None:
        _check_key(request.key)
    if request.bars is not None and request.seconds is not None:
        raise InvalidSongRequest("bars", "give bars or seconds, not both")
    if request.bars is not None:
        check_bars("bars", request.bars)
    if request.seconds is not None:
        check_seconds("seconds", request.seconds)
    if request.time_signature is not None:
        check_time_signature("time_signature", request.time_signature)
    if not isinstance(request.seed, int) or isinstance(request.seed, bool):
        raise InvalidSongRequest("seed", "the seed must be a whole number")
    if not 0 <= request.seed <= MAX_SEED:
        raise InvalidSongRequest("seed", f"the seed must be between 0 and {MAX_SEED}, not {request.seed}")


def _check_prompt(prompt: object) -> None:
    if not isinstance(prompt, str):
        raise InvalidSongRequest("prompt", "the prompt must be text")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise SongRequestTooLarge("prompt", f"the prompt has {len(prompt)} characters, more than {MAX_PROMPT_CHARS}")
    if not prompt.strip():
        raise InvalidSongRequest("prompt", "the prompt is empty; describe the music you want")


def _check_key(key: object) -> None:
    """What a key name must be before it is read (composer.theory reads it)."""
    if not isinstance(key, str):
        raise InvalidSongRequest("key", "the key must be text such as 'F minor' or 'Bb major'")
    if len(key) > MAX_KEY_CHARS:
        raise InvalidSongRequest("key", f"a key is at most {MAX_KEY_CHARS} characters, such as 'F minor' or 'Bb major'")


def _finite(field: str, value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSongRequest(field, f"{what} must be a finite number, not {value!r}")
    return float(value)


def check_bpm(field: str, value: object) -> None:
    bpm = _finite(field, value, "the tempo in BPM")
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise InvalidSongRequest(field, f"the tempo {bpm} BPM is outside {MIN_BPM}-{MAX_BPM} BPM")


def check_bars(field: str, bars: object) -> None:
    if not isinstance(bars, int) or isinstance(bars, bool):
        raise InvalidSongRequest(field, f"bars must be a whole number, not {bars!r}")
    if bars < 1:
        raise InvalidSongRequest(field, f"a song needs at least 1 bar, not {bars}")
    if bars > MAX_BARS:
        raise SongRequestTooLarge(field, f"{bars} bars is more than the limit of {MAX_BARS}")


def check_seconds(field: str, value: object) -> None:
    seconds = _finite(field, value, "seconds")
    if seconds <= 0:
        raise InvalidSongRequest(field, f"a song must last more than 0 seconds, not {seconds}")
    if seconds > MAX_SECONDS:
        raise SongRequestTooLarge(field, f"{seconds} seconds is more than the limit of {MAX_SECONDS}")


def check_time_signature(field: str, value: object) -> None:
    if meter_named(value) is None:
        raise InvalidSongRequest(
            field, f"unsupported time signature {value!r}; write it {METER_FORM}, such as 4/4, 6/8 or 7/8"
        )
