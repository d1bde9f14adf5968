"""A render whose tracks play through instruments of their own: plugins (rendered by a plugin host, in its worker
processes), other SoundFonts, and the request's SoundFont for the rest. Every track renders alone, so the stems add
up to the mix exactly, and one gain scales them all, as FluidSynthRenderer.render does.

A plugin's output level is its own (mda Piano peaks near 0 dBFS, ZynAddSubFX 20 dB lower), so each plugin track is
brought, channel by channel, to the RMS level the request's SoundFont gives the same track: choosing an instrument
changes a track's sound, not its place in the mix, and a track panned in its MIDI file stays where it was panned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import numpy as np

from renderers.errors import PluginFailed
from renderers.fluidsynth import DEFAULT_TAIL_SECONDS, Audio, FluidSynthRenderer, RenderedAudio, finish_render
from renderers.midi import EventKind, MidiEvent, MidiPerformance, Stem
from renderers.mixing import MixSettings
from renderers.plugins import PluginSound

# Bank select (MSB, LSB): like program changes, it would choose the plugin's sound, which the request chose.
_BANK_SELECT = (0, 32)
# Plugin tracks rendered at once by one render; the host runs as many as it has workers and queues the rest.
_MAX_PLUGIN_THREADS = 8
# The channel a plugin hears its track on: MIDI channel 1.
_PLUGIN_CHANNEL = 0
# A plugin track whose peak stays below this (-140 dBFS) made no sound.
_SILENT_PEAK = 1e-7

Voice = FluidSynthRenderer | PluginSound


class PluginRenderHost(Protocol):
    """What renders a plugin track: renderers.plugin_host.PluginHost."""

    def render(
        self,
        sound: PluginSound,
        events: Sequence[MidiEvent],
        sample_rate: int,
        seconds: float,
        *,
        deadline: float | None = None,
        label: str = "",
    ) -> Audio: ...


def render_with_instruments(
    performance: MidiPerformance,
    default: FluidSynthRenderer,
    voices: Mapping[str, Voice],
    host: PluginRenderHost,
    *,
    tail_seconds: float = DEFAULT_TAIL_SECONDS,
    check: Callable[[], None] | None = None,
    mixing: MixSettings | None = None,
    deadline: float | None = None,
) -> RenderedAudio:
    """Render each stem with its voice (by stem name: another SoundFont's renderer, or a plugin) or else with
    `default`, and mix them as FluidSynthRenderer.render does with stems. `deadline` (a time.time() value) bounds the
    plugin renders; ``check`` is called before waiting for each stem. A plugin that fails, or plays nothing for a
    track with notes, raises PluginFailed naming the track."""
    mixing = mixing or MixSettings()
    played, frames = default.frames(performance, tail_seconds)
    for voice in voices.values():
        if isinstance(voice, FluidSynthRenderer) and voice.sample_rate != default.sample_rate:
            raise ValueError("every SoundFont renderer of a render must share its sample rate")
    plugins = {
        stem.name: sound for stem in performance.stems if isinstance(sound := voices.get(stem.name), PluginSound)
    }
    # A plugin stem's SoundFont render is its level's reference.
    fonts = [_font(voices.get(stem.name), default) for stem in performance.stems]
    font_renders = [
        font.submit([stem.events], played, frames, mixing)[0]
        for font, stem in zip(fonts, performance.stems, strict=True)
    ]
    pending: list[Future[Audio]] = list(font_renders)
    with ThreadPoolExecutor(max_workers=max(1, min(len(plugins), _MAX_PLUGIN_THREADS))) as pool:
        plugin_renders = {
            stem.name: pool.submit(
                host.render,
                plugins[stem.name],
                _plugin_events(stem),
                default.sample_rate,
                frames / default.sample_rate,
                deadline=deadline,
                label=stem.name,
            )
            for stem in performance.stems
            if stem.name in plugins
        }
        pending += plugin_renders.values()
        mix = np.zeros((frames, 2), dtype=np.float32)
        stems: dict[str, Audio] = {}
        try:
            for stem, font_render in zip(performance.stems, font_renders, strict=True):
                if check is not None:
                    check()
                audio = font_render.result()
                if stem.name in plugin_renders:
                    played_by_plugin = _fitted(plugin_renders[stem.name].result(), frames)
                    _check_sounding(played_by_plugin, stem, plugins[stem.name])
                    audio = _level_matched(played_by_plugin, audio)
                mix += audio
                stems[stem.name] = audio
        finally:
            for future in pending:
                future.cancel()
    return finish_render(mix, stems, played, default.sample_rate, mixing)


def _font(voice: Voice | None, default: FluidSynthRenderer) -> FluidSynthRenderer:
    """The SoundFont renderer of a stem: its own, or the default (also the level reference of a plugin stem)."""
    return voice if isinstance(voice, FluidSynthRenderer) else default


def _plugin_events(stem: Stem) -> list[MidiEvent]:
    """The stem's events for a plugin, on MIDI channel 1 and without the program and bank changes that pick a General
    MIDI sound. A plugin plays one track, and several hear only channel 1: ZynAddSubFX's first part listens to it
    alone, and setBfree plays its lower manual and pedals on channels 2 and 3 and nothing on the others."""
    return [
        event._replace(channel=_PLUGIN_CHANNEL)
        for event in stem.events
        if event.kind is not EventKind.PROGRAM_CHANGE
        and not (event.kind is EventKind.CONTROL_CHANGE and event.data1 in _BANK_SELECT)
    ]


def _fitted(audio: Audio, frames: int) -> Audio:
    """`audio` exactly `frames` long (a host may round seconds to frames the other way)."""
    if audio.shape[0] >= frames:
        return np.ascontiguousarray(audio[:frames], dtype=np.float32)
    return np.concatenate([audio, np.zeros((frames - audio.shape[0], 2), dtype=np.float32)])


def _check_sounding(audio: Audio, stem: Stem, sound: PluginSound) -> None:
    notes = sum(1 for event in stem.events if event.kind is EventKind.NOTE_ON and event.data2 > 0)
    if notes and not np.any(np.abs(audio) >= _SILENT_PEAK):
        preset = f" (preset {sound.preset!r})" if sound.preset else ""
        raise PluginFailed(
            f"track {stem.name!r}: {sound.format} plugin {sound.locator}{preset} made no sound for its {notes} notes"
        )


def _level_matched(audio: Audio, reference: Audio) -> Audio:
    """`audio` scaled, each channel apart, to the RMS of `reference`'s; left as it is where the reference is silent."""
    audio_rms = np.sqrt(np.mean(np.square(audio, dtype=np.float64), axis=0))
    reference_rms = np.sqrt(np.mean(np.square(reference, dtype=np.float64), axis=0))
    if not np.any(reference_rms > 0.0):
        return audio
    gains = np.divide(reference_rms, audio_rms, out=np.zeros(2), where=audio_rms > 0.0)
    return (audio * gains.astype(np.float32)).astype(np.float32)
