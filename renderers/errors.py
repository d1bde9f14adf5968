"""The exceptions the renderers raise, grouped by cause so a caller can map each to a status."""

from __future__ import annotations

from collections.abc import Sequence


class RenderError(Exception):
    """Base class of every error raised by the renderers."""


class InvalidMidi(RenderError, ValueError):
    """The bytes are not a MIDI file that can be parsed."""


class MidiTooLong(InvalidMidi):
    """The MIDI file plays for longer than the allowed number of seconds."""

    def __init__(self, seconds: float, limit_seconds: float) -> None:
        super().__init__(f"MIDI file lasts {seconds:.1f} s, more than the limit of {limit_seconds:.1f} s")
        self.seconds = seconds
        self.limit_seconds = limit_seconds


class MidiTooLarge(InvalidMidi):
    """The MIDI file has more bytes than allowed."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(f"MIDI file has {size_bytes} bytes, more than the limit of {limit_bytes} bytes")
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class SoundFontNotFound(RenderError, LookupError):
    """No SoundFont of that name is in the library."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        listed = ", ".join(available) if available else "none"
        super().__init__(f"unknown SoundFont {name!r}; available: {listed}")
        self.name = name
        self.available = list(available)


class SoundFontLoadError(RenderError):
    """The SoundFont file exists but FluidSynth cannot load it."""
