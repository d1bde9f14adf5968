"""What the plugin hosts share: the formats, what a scan found (`PluginInfo`), and what a track renders with
(`PluginSound`). The plugins run in worker processes (renderers.plugin_host); only these plain values cross over."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
