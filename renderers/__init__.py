"""MIDI -> audio with FluidSynth and SoundFonts: float32 stereo mix and exact per-track stems.

Parse (and validate) with `parse_midi`, pick a font with `SoundFontLibrary.resolve`, render with a
long-lived `FluidSynthRenderer`. Parsing needs only mido; libfluidsynth is loaded by the first renderer.
"""

from renderers.errors import (
    InvalidMidi,
    MidiTooLarge,
    MidiTooLong,
    RenderError,
    SoundFontLoadError,
    SoundFontNotFound,
)
from renderers.fluidsynth import (
    DEFAULT_TAIL_SECONDS,
    MAX_SAMPLE_RATE,
    MAX_TAIL_SECONDS,
    MIN_SAMPLE_RATE,
    PEAK_TARGET_DBFS,
    RENDERER_VERSION,
    SILENCE_DBFS,
    FluidSynthRenderer,
    RenderedAudio,
    check_sample_rate,
)
from renderers.midi import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_SECONDS,
    EventKind,
    MidiEvent,
    MidiPerformance,
    Stem,
    parse_midi,
    sanitize_stem_name,
)
from renderers.soundfonts import DEFAULT_SOUNDFONT_DIRS, SoundFont, SoundFontLibrary

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_SOUNDFONT_DIRS",
    "DEFAULT_TAIL_SECONDS",
    "MAX_SAMPLE_RATE",
    "MAX_TAIL_SECONDS",
    "MIN_SAMPLE_RATE",
    "PEAK_TARGET_DBFS",
    "RENDERER_VERSION",
    "SILENCE_DBFS",
    "EventKind",
    "FluidSynthRenderer",
    "InvalidMidi",
    "MidiEvent",
    "MidiPerformance",
    "MidiTooLarge",
    "MidiTooLong",
    "RenderError",
    "RenderedAudio",
    "SoundFont",
    "SoundFontLibrary",
    "SoundFontLoadError",
    "SoundFontNotFound",
    "Stem",
    "check_sample_rate",
    "parse_midi",
    "sanitize_stem_name",
]
