"""MIDI -> audio with FluidSynth and SoundFonts: float32 stereo mix and exact per-track stems.

Parse (and validate) with `parse_midi`, pick a font with `SoundFontLibrary.resolve`, render with a
long-lived `FluidSynthRenderer`. Parsing needs only mido; libfluidsynth is loaded by the first renderer.
"""

from renderers.errors import (
    InvalidMidi,
    InvalidSoundFont,
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
    check_soundfont_file,
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
from renderers.mixing import MixSettings, integrated_loudness
from renderers.soundfonts import (
    DEFAULT_SOUNDFONT_DIRS,
    UPLOADED_PREFIX,
    SoundFont,
    SoundFontLibrary,
    uploaded_digest,
    uploaded_path,
)

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
    "UPLOADED_PREFIX",
    "EventKind",
    "FluidSynthRenderer",
    "InvalidMidi",
    "InvalidSoundFont",
    "MidiEvent",
    "MidiPerformance",
    "MidiTooLarge",
    "MidiTooLong",
    "MixSettings",
    "RenderError",
    "RenderedAudio",
    "SoundFont",
    "SoundFontLibrary",
    "SoundFontLoadError",
    "SoundFontNotFound",
    "Stem",
    "check_sample_rate",
    "check_soundfont_file",
    "integrated_loudness",
    "parse_midi",
    "sanitize_stem_name",
    "uploaded_digest",
    "uploaded_path",
]
