"""What the fluidsynth model serves, apart from Triton: MIDI rendered with a SoundFont and, for the tracks a request
gives one, other SoundFonts and plugin instruments; and the catalog of every instrument there is.

FluidSynth renderers stay loaded per SoundFont and sample rate (clients' uploaded fonts only while few); plugins run
in a PluginHost's worker processes, started with the first plugin render or instrument list, so a render that names
no instrument never starts one.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from renderers.fluidsynth import FluidSynthRenderer, RenderedAudio
from renderers.instrumented import Voice, render_with_instruments
from renderers.instruments import InstrumentCatalog, InstrumentRequest
from renderers.midi import DEFAULT_MAX_BYTES, DEFAULT_MAX_SECONDS, MidiPerformance, parse_midi
from renderers.mixing import MixSettings
from renderers.plugin_host import DEFAULT_RENDER_TIMEOUT_SECONDS, DEFAULT_WORKERS, PluginHost
from renderers.soundfonts import UPLOADED_PREFIX, SoundFont, SoundFontLibrary

# Renderers of clients' uploaded SoundFonts kept at once (each holds its font in memory, FluidR3_GM-sized: 141 MB).
MAX_UPLOADED_LOADED = 4

log = logging.getLogger(__name__)


class Studio:
    """Renders MIDI files as requests ask; safe to share between threads. Close it to free the fonts and stop the
    plugin workers."""

    def __init__(
        self,
        library: SoundFontLibrary,
        *,
        render_threads: int = 2,
        plugin_workers: int = DEFAULT_WORKERS,
        plugin_timeout_seconds: float = DEFAULT_RENDER_TIMEOUT_SECONDS,
        max_render_seconds: float = DEFAULT_MAX_SECONDS,
        max_midi_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.library = library
        self._render_threads = render_threads
        self._plugin_workers = plugin_workers
        self._plugin_timeout_seconds = plugin_timeout_seconds
        self._max_render_seconds = max_render_seconds
        self._max_midi_bytes = max_midi_bytes
        self._renderers: dict[tuple[str, int], FluidSynthRenderer] = {}
        self._host: PluginHost | None = None
        self._catalog: InstrumentCatalog | None = None
        self._lock = threading.Lock()

    def render(
        self,
        midi: bytes,
        soundfont: str,
        sample_rate: int,
        *,
        stems: bool = True,
        mixing: MixSettings | None = None,
        instruments: InstrumentRequest | None = None,
        check: Callable[[], None] | None = None,
        deadline: float | None = None,
    ) -> RenderedAudio:
        """`midi` rendered with the SoundFont called `soundfont` ("" for the default), each track through the
        instrument `instruments` gives it. Without stems the result has none (tracks may then share synthesizers).
        `deadline` (a time.time() value) bounds plugin renders; ``check`` is called between tracks."""
        font = self.library.resolve(soundfont)
        performance = parse_midi(midi, max_seconds=self._max_render_seconds, max_bytes=self._max_midi_bytes)
        default = self._renderer(font, sample_rate)
        voices = self._voices(performance, instruments, sample_rate) if instruments is not None else {}
        if not voices:
            return default.render(performance, stems=stems, check=check, mixing=mixing)
        rendered = render_with_instruments(
            performance, default, voices, self._plugin_host(), check=check, mixing=mixing, deadline=deadline
        )
        return rendered if stems else dataclasses.replace(rendered, stems={})

    def catalog(self, *, rescan: bool = False) -> InstrumentCatalog:
        """Every SoundFont and plugin instrument; plugins are scanned (in a worker) once, or again with `rescan`."""
        with self._lock:
            catalog = self._catalog
        if catalog is None or rescan:
            catalog = InstrumentCatalog(self.library, self._plugin_host().scan())
            with self._lock:
                self._catalog = catalog
        return catalog

    def close(self) -> None:
        with self._lock:
            renderers, self._renderers = list(self._renderers.values()), {}
            host, self._host = self._host, None
        for renderer in renderers:
            renderer.close()
        if host is not None:
            host.close()

    def _voices(
        self, performance: MidiPerformance, instruments: InstrumentRequest, sample_rate: int
    ) -> dict[str, Voice]:
        """What plays each stem that is not on the request's SoundFont: another font's renderer, or a plugin."""
        assignment = instruments.assign(performance.stems, self.catalog())
        for fallback in assignment.fallbacks:
            log.info("track %r plays the SoundFont: the set's %s is not installed", fallback.track, fallback.wanted)
        voices: dict[str, Voice] = {}
        for stem, voice in assignment.voices.items():
            if voice is None:
                continue
            font = voice.soundfont
            voices[stem] = (
                voice.plugin_sound() if font is None else self._renderer(self.library.resolve(font), sample_rate)
            )
        return voices

    def _plugin_host(self) -> PluginHost:
        with self._lock:
            if self._host is None:
                self._host = PluginHost(
                    workers=self._plugin_workers, render_timeout_seconds=self._plugin_timeout_seconds
                )
            return self._host

    def _renderer(self, soundfont: SoundFont, sample_rate: int) -> FluidSynthRenderer:
        key = (soundfont.name, sample_rate)
        with self._lock:
            if key in self._renderers:  # the most recently used last, as _make_room_for reads them
                self._renderers[key] = self._renderers.pop(key)
                return self._renderers[key]
            self._make_room_for(soundfont)
            renderer = FluidSynthRenderer(soundfont, sample_rate, threads=self._render_threads)
            self._renderers[key] = renderer
            return renderer

    def _make_room_for(self, soundfont: SoundFont) -> None:
        """Clients' uploaded fonts stay loaded only while few: past MAX_UPLOADED_LOADED the least recently used is
        closed (the server's own fonts are few, and stay)."""
        if not soundfont.name.startswith(UPLOADED_PREFIX):
            return
        uploaded = [key for key in self._renderers if key[0].startswith(UPLOADED_PREFIX)]
        for key in uploaded[: max(0, len(uploaded) - MAX_UPLOADED_LOADED + 1)]:
            self._renderers.pop(key).close()
