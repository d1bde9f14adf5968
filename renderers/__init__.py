"""MIDI -> audio with FluidSynth and SoundFonts: float32 stereo mix and exact per-track stems.

Parse (and validate) with `parse_midi`, pick a font with `SoundFontLibrary.resolve`, render with a
long-lived `FluidSynthRenderer`. Parsing needs only mido; libfluidsynth is loaded by the first renderer.
LV2 instruments (`lv2_instruments`) play through an `LV2Renderer`; liblilv is loaded by the first use. VST2
instruments (`vst2_instruments`) play through a `VST2Renderer`.
`InstrumentCatalog` names every SoundFont and plugin a track can play; `assign` gives each track its instrument from a
request's `InstrumentChoice`s and instrument set (`INSTRUMENT_SETS`). Plugins run in a `PluginHost`'s worker
processes; a `Studio` renders a request as the fluidsynth model does, tracks on their instruments.
"""

from renderers.errors import (
    InstrumentNotFound,
    InvalidMidi,
    InvalidSoundFont,
    MidiTooLarge,
    MidiTooLong,
    PluginFailed,
    PluginLoadError,
    PluginNotFound,
    PresetNotFound,
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
from renderers.instruments import (
    INSTRUMENT_SETS,
    Assignment,
    Fallback,
    Instrument,
    InstrumentCatalog,
    InstrumentChoice,
    InstrumentRequest,
    InstrumentSet,
    Voice,
    assign,
    parse_choice,
)
from renderers.lv2 import LV2Instrument, LV2Renderer, lv2_instruments
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
from renderers.plugin_host import PluginHost
from renderers.soundfonts import (
    DEFAULT_SOUNDFONT_DIRS,
    UPLOADED_PREFIX,
    SoundFont,
    SoundFontLibrary,
    uploaded_digest,
    uploaded_path,
)
from renderers.studio import Studio
from renderers.vst2 import VST2Instrument, VST2Renderer, vst2_instruments

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_SOUNDFONT_DIRS",
    "DEFAULT_TAIL_SECONDS",
    "INSTRUMENT_SETS",
    "MAX_SAMPLE_RATE",
    "MAX_TAIL_SECONDS",
    "MIN_SAMPLE_RATE",
    "PEAK_TARGET_DBFS",
    "RENDERER_VERSION",
    "SILENCE_DBFS",
    "UPLOADED_PREFIX",
    "Assignment",
    "EventKind",
    "Fallback",
    "FluidSynthRenderer",
    "Instrument",
    "InstrumentCatalog",
    "InstrumentChoice",
    "InstrumentNotFound",
    "InstrumentRequest",
    "InstrumentSet",
    "InvalidMidi",
    "InvalidSoundFont",
    "LV2Instrument",
    "LV2Renderer",
    "MidiEvent",
    "MidiPerformance",
    "MidiTooLarge",
    "MidiTooLong",
    "MixSettings",
    "PluginFailed",
    "PluginHost",
    "PluginLoadError",
    "PluginNotFound",
    "PresetNotFound",
    "RenderError",
    "RenderedAudio",
    "SoundFont",
    "SoundFontLibrary",
    "SoundFontLoadError",
    "SoundFontNotFound",
    "Stem",
    "Studio",
    "VST2Instrument",
    "VST2Renderer",
    "Voice",
    "assign",
    "check_sample_rate",
    "check_soundfont_file",
    "integrated_loudness",
    "lv2_instruments",
    "parse_choice",
    "parse_midi",
    "sanitize_stem_name",
    "uploaded_digest",
    "uploaded_path",
    "vst2_instruments",
]
