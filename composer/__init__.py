"""The default text-to-MIDI generator: a deterministic, rule-based composer (no model weights).

A prompt such as "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor" becomes a type-1 Standard MIDI
File with a conductor track and one track per instrument, plus metadata on what was understood and chosen."""

from composer.errors import InvalidSongRequest, SongRequestTooLarge
from composer.request import (
    MAX_BARS,
    MAX_BPM,
    MAX_PROMPT_CHARS,
    MAX_SECONDS,
    MAX_SEED,
    MIN_BPM,
    SongRequest,
    check_fields,
)
from composer.song import COMPOSER_VERSION, ComposedSong, SectionInfo, SongMetadata, TrackInfo, compose, validate

__all__ = [
    "COMPOSER_VERSION",
    "MAX_BARS",
    "MAX_BPM",
    "MAX_PROMPT_CHARS",
    "MAX_SECONDS",
    "MAX_SEED",
    "MIN_BPM",
    "ComposedSong",
    "InvalidSongRequest",
    "SectionInfo",
    "SongMetadata",
    "SongRequest",
    "SongRequestTooLarge",
    "TrackInfo",
    "check_fields",
    "compose",
    "validate",
]
