"""What the plugin hosts share: the formats, what a scan found (`PluginInfo`), and what a track renders with
(`PluginSound`). The plugins run in worker processes (renderers.plugin_host); only these plain values cross over."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from renderers.errors import PluginLoadError
from renderers.midi import MidiEvent


class PluginFormat(StrEnum):
    LV2 = "lv2"
    VST2 = "vst2"


@dataclass(frozen=True)
class PluginInfo:
    """An installed instrument plugin: its format, where it is (an LV2 URI, a VST2 library's path), its own title
    and the presets (LV2 presets, VST2 programs) it offers, by label."""

    format: PluginFormat
    locator: str
    title: str
    presets: tuple[str, ...] = ()
    audio_outputs: int = 2


@dataclass(frozen=True)
class PluginSound:
    """A plugin and the preset (a label from its PluginInfo, or None for the plugin's own default) to render with."""

    format: PluginFormat
    locator: str
    preset: str | None = None


_STEREO = 2


class PluginRenderer(Protocol):
    """One plugin instance's renderer: `seconds` of float32 stereo [frames, 2] of the events played from time 0."""

    def render(self, played: Iterable[MidiEvent], seconds: float) -> npt.NDArray[np.float32]: ...

    def close(self) -> None: ...


def scan_plugins(vst2_dirs: Sequence[Path] | None = None) -> list[PluginInfo]:
    """Every installed instrument plugin the hosts play whole: the LV2 ones on the LV2 search path, then the VST2
    ones in `vst2_dirs` (default: renderers.vst2.vst2_dirs()). Not those with more than two audio outputs: the hosts
    hear a plugin's first two, and a multi-output one (avldrums' "Multi" kits) spreads its parts over the others.
    Scanning loads plugin code: call it in a worker process."""
    from renderers.lv2 import lv2_instruments
    from renderers.vst2 import vst2_instruments

    lv2 = [
        PluginInfo(PluginFormat.LV2, found.uri, found.name, found.presets, found.audio_outputs)
        for found in lv2_instruments()
    ]
    vst2 = [
        PluginInfo(PluginFormat.VST2, found.path, found.name, found.presets, found.audio_outputs)
        for found in vst2_instruments(vst2_dirs)
    ]
    return [found for found in lv2 + vst2 if found.audio_outputs <= _STEREO]


def open_renderer(sound: PluginSound, sample_rate: int) -> PluginRenderer:
    """A renderer of `sound` at `sample_rate`, with its preset. It runs plugin code: call it in a worker process."""
    from renderers.lv2 import LV2Renderer
    from renderers.vst2 import VST2Renderer

    match sound.format:
        case PluginFormat.LV2:
            return LV2Renderer(sound.locator, sample_rate, sound.preset)
        case PluginFormat.VST2:
            return VST2Renderer(sound.locator, sample_rate, sound.preset)
    raise PluginLoadError(f"{sound.format} plugins cannot be hosted")
