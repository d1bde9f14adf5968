"""What a plugin host and its workers (renderers.plugin_host, renderers._plugin_worker) say to each other: frames of
an 8-byte little-endian length and a pickle, requests to the worker's stdin and replies from its stdout; a `Rendered`
reply is followed by one frame of the audio's raw float32 bytes, which the host reads straight into its array. Only
these plain values, and the renderers' own (PluginSound, PluginInfo, MidiEvent), cross over."""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from renderers.midi import MidiEvent
from renderers.plugins import PluginInfo, PluginSound

FRAME_HEADER = struct.Struct("<Q")

# The clock plugins see, through libfaketime (renderers.plugin_host.faketime_library): the same for every render.
FAKETIME_VARIABLE = "FAKETIME"
FROZEN_TIME = "2000-01-01 00:00:00"


@dataclass(frozen=True)
class ScanRequest:
    """Every installed instrument plugin, as a `Scanned` reply."""


@dataclass(frozen=True)
class RenderRequest:
    """`seconds` of `sound` playing `events` at `sample_rate`, as a `Rendered` reply and the audio's bytes."""

    sound: PluginSound
    events: Sequence[MidiEvent]
    sample_rate: int
    seconds: float


@dataclass(frozen=True)
class Scanned:
    plugins: list[PluginInfo]


@dataclass(frozen=True)
class Rendered:
    """The next frame holds frames x 2 float32 samples, interleaved, in native byte order."""

    frames: int


@dataclass(frozen=True)
class Failed:
    """An exception the request raised, by its class's module and name, its args and its attributes (exceptions
    with an __init__ of their own do not unpickle from their args alone)."""

    module: str
    name: str
    args: tuple[Any, ...]
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, error: BaseException) -> Failed:
        kind = type(error)
        attributes = dict(vars(error))
        try:
            pickle.dumps((error.args, attributes))
        except Exception:  # an attribute that cannot cross: the message still does
            return cls(kind.__module__, kind.__qualname__, (str(error),))
        return cls(kind.__module__, kind.__qualname__, error.args, attributes)


def write_frame(stream: IO[bytes], payload: bytes | memoryview) -> None:
    stream.write(FRAME_HEADER.pack(len(payload)))
    stream.write(payload)


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload, read from a blocking stream; None at the end of the stream."""
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return payload
