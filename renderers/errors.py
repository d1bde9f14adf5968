"""The exceptions the renderers raise, grouped by cause (dgxmusic.errors) so a caller can map each to a status."""

from __future__ import annotations

from collections.abc import Sequence

from dgxmusic.errors import FieldError, MusicError, TooLarge, Unavailable


class RenderError(MusicError):
    """Base class of every error raised by the renderers; raised itself when FluidSynth fails (a bug)."""


class InvalidMidi(RenderError, FieldError):
    """The bytes are not a MIDI file that can be played (field "midi")."""

    def __init__(self, reason: str) -> None:
        super().__init__("midi", reason)


class MidiTooLong(InvalidMidi, TooLarge):
    """The MIDI file plays for longer than the allowed number of seconds."""

    def __init__(self, seconds: float, limit_seconds: float) -> None:
        super().__init__(f"MIDI file lasts {seconds:.1f} s, more than the limit of {limit_seconds:.1f} s")
        self.seconds = seconds
        self.limit_seconds = limit_seconds


class MidiTooLarge(InvalidMidi, TooLarge):
    """The MIDI file has more bytes than allowed."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(f"MIDI file has {size_bytes} bytes, more than the limit of {limit_bytes} bytes")
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class SoundFontNotFound(RenderError, FieldError, LookupError):
    """No SoundFont of that name is in the library (field "soundfont")."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        listed = ", ".join(available) if available else "none"
        super().__init__("soundfont", f"unknown SoundFont {name!r}; available: {listed}")
        self.name = name
        self.available = list(available)


class SoundFontLoadError(RenderError, Unavailable):
    """The SoundFont file exists but FluidSynth cannot load it."""


class InvalidSoundFont(RenderError, FieldError):
    """Bytes sent as a SoundFont that are not one FluidSynth can load (field "soundfont" unless told)."""

    def __init__(self, reason: str, field: str = "soundfont") -> None:
        super().__init__(field, reason)


class PluginNotFound(RenderError, FieldError, LookupError):
    """No plugin of that locator (an LV2 URI, a VST2 library's path) is installed where the host looks (field
    "instrument")."""

    def __init__(self, uri: str, search_path: str, plugin_format: str = "LV2") -> None:
        super().__init__("instrument", f"{plugin_format} plugin {uri!r} is not installed (searched {search_path})")
        self.uri = uri


class PresetNotFound(RenderError, FieldError, LookupError):
    """The plugin has no preset (LV2 preset, VST2 program) of that label (field "instrument")."""

    def __init__(self, plugin: str, preset: str, available: Sequence[str]) -> None:
        listed = ", ".join(repr(label) for label in available) if available else "none"
        super().__init__("instrument", f"plugin {plugin!r} has no preset {preset!r}; available: {listed}")
        self.plugin = plugin
        self.preset = preset
        self.available = list(available)


class InstrumentNotFound(RenderError, FieldError, LookupError):
    """An instrument (or one of its presets) that the catalog does not have; the reason suggests close names
    (field "instruments" unless told, e.g. "instruments[2].instrument")."""

    def __init__(self, name: str, reason: str, suggestions: Sequence[str] = (), field: str = "instruments") -> None:
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(field, f"{reason}{hint}")
        self.name = name
        self.suggestions = list(suggestions)


class PluginLoadError(RenderError, Unavailable):
    """The LV2 plugin is installed but this host cannot run it (a feature it lacks, a port it cannot feed)."""


class PluginFailed(RenderError, Unavailable):
    """A plugin crashed, hung past its time or produced samples that are not finite while rendering a track."""
