"""Standard MIDI File parsing into a performance: channel events in absolute seconds, grouped into stems.

Parsing is the validation step too (the gateway calls it on request bytes): it never renders, so every
cost here is proportional to the file's size, never to how long the music lasts.
"""

from __future__ import annotations

import io
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

import mido

from renderers.errors import InvalidMidi, MidiTooLarge, MidiTooLong
from renderers.gm import DRUM_CHANNEL, GM_PROGRAM_NAMES

DEFAULT_MAX_SECONDS = 600.0
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
_DEFAULT_TEMPO = 500_000  # microseconds per beat: 120 bpm, the SMF default until a set_tempo
_MAX_STEM_NAME = 64
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9 ._-]")


class EventKind(IntEnum):
    """The channel messages a renderer plays."""

    NOTE_ON = 0
    NOTE_OFF = 1
    CONTROL_CHANGE = 2
    PROGRAM_CHANGE = 3
    PITCH_BEND = 4
    CHANNEL_PRESSURE = 5
    KEY_PRESSURE = 6


class MidiEvent(NamedTuple):
    """One channel message at an absolute time. Pitch bend data1 is 0..16383 (8192 = centre)."""

    seconds: float
    kind: EventKind
    channel: int
    data1: int
    data2: int = 0


def message_bytes(event: MidiEvent) -> bytes:
    """The MIDI message's bytes, as a plugin receives it (a note-off with velocity 0)."""
    channel = event.channel & 0x0F
    match event.kind:
        case EventKind.NOTE_ON:
            return bytes((0x90 | channel, event.data1 & 0x7F, event.data2 & 0x7F))
        case EventKind.NOTE_OFF:
            return bytes((0x80 | channel, event.data1 & 0x7F, 0))
        case EventKind.CONTROL_CHANGE:
            return bytes((0xB0 | channel, event.data1 & 0x7F, event.data2 & 0x7F))
        case EventKind.PROGRAM_CHANGE:
            return bytes((0xC0 | channel, event.data1 & 0x7F))
        case EventKind.PITCH_BEND:
            return bytes((0xE0 | channel, event.data1 & 0x7F, (event.data1 >> 7) & 0x7F))
        case EventKind.CHANNEL_PRESSURE:
            return bytes((0xD0 | channel, event.data1 & 0x7F))
        case EventKind.KEY_PRESSURE:
            return bytes((0xA0 | channel, event.data1 & 0x7F, event.data2 & 0x7F))
    raise ValueError(f"unknown MIDI event kind {event.kind!r}")


@dataclass(frozen=True)
class Stem:
    """The events that render one stem on their own: its notes plus the channel state they need."""

    name: str
    events: tuple[MidiEvent, ...]


@dataclass(frozen=True)
class MidiPerformance:
    """A parsed MIDI file: what to play and for how long."""

    duration_seconds: float
    stems: tuple[Stem, ...]
    ticks_per_beat: int
    midi_type: int


class _TickEvent(NamedTuple):
    tick: int
    track: int
    seq: int
    kind: EventKind
    channel: int
    data1: int
    data2: int


@dataclass
class _Track:
    name: str | None
    end_tick: int
    events: list[_TickEvent]


class _Clock:
    """Converts absolute ticks to seconds through the tempo map (or the fixed SMPTE tick length)."""

    def __init__(self, ticks_per_beat: int, tempo_changes: Sequence[tuple[int, int]]) -> None:
        self._ticks = [0]
        self._seconds = [0.0]
        if ticks_per_beat < 0:
            self._scales = [_smpte_seconds_per_tick(ticks_per_beat)]
            return
        self._scales = [_DEFAULT_TEMPO / 1e6 / ticks_per_beat]
        for tick, tempo in sorted(tempo_changes, key=lambda change: change[0]):
            scale = tempo / 1e6 / ticks_per_beat
            if tick == self._ticks[-1]:
                self._scales[-1] = scale
                continue
            self._seconds.append(self.seconds(tick))
            self._ticks.append(tick)
            self._scales.append(scale)

    def seconds(self, tick: int) -> float:
        i = bisect_right(self._ticks, tick) - 1
        return self._seconds[i] + (tick - self._ticks[i]) * self._scales[i]


def parse_midi(
    data: bytes, *, max_seconds: float = DEFAULT_MAX_SECONDS, max_bytes: int = DEFAULT_MAX_BYTES
) -> MidiPerformance:
    """Parse and validate a Standard MIDI File; raise InvalidMidi (or a subclass) for anything unusable."""
    if len(data) > max_bytes:
        raise MidiTooLarge(len(data), max_bytes)
    midi = _read(data)
    tempo_changes: list[tuple[int, int]] = []
    tracks = [_read_track(index, track, tempo_changes) for index, track in enumerate(midi.tracks)]
    clock = _Clock(midi.ticks_per_beat, tempo_changes)
    duration = max((clock.seconds(track.end_tick) for track in tracks), default=0.0)
    if duration <= 0.0:
        raise InvalidMidi("nothing to play: the file has no tracks or lasts 0 seconds")
    if duration > max_seconds:
        raise MidiTooLong(duration, max_seconds)
    stems = _stems_by_channel(tracks[0]) if midi.type == 0 and tracks else _stems_by_track(tracks)
    return MidiPerformance(
        duration_seconds=duration,
        stems=tuple(Stem(name, _timed(events, clock)) for name, events in _unique_names(stems)),
        ticks_per_beat=midi.ticks_per_beat,
        midi_type=midi.type,
    )


def sanitize_stem_name(name: str) -> str:
    """A name that is safe as a file name: letters, digits, space, - _ . (others become _)."""
    return _UNSAFE_NAME_CHARS.sub("_", name).strip(" .")[:_MAX_STEM_NAME].strip(" .")


def _read(data: bytes) -> Any:
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as err:  # mido raises whatever its parser hits: OSError, EOFError, ValueError, ...
        raise InvalidMidi(f"not a readable MIDI file: {str(err) or type(err).__name__}") from err
    if midi.type == 2:  # independent patterns, each with its own time line: no one way to play them
        raise InvalidMidi("type 2 MIDI files (sequential patterns) are not rendered; save the song as type 0 or 1")
    if midi.type not in (0, 1):
        raise InvalidMidi(f"unknown MIDI file type {midi.type}")
    if midi.ticks_per_beat == 0 or (midi.ticks_per_beat < 0 and midi.ticks_per_beat & 0xFF == 0):
        raise InvalidMidi(f"invalid time division {midi.ticks_per_beat}")
    return midi


def _smpte_seconds_per_tick(division: int) -> float:
    frames_per_second = -(division >> 8)
    ticks_per_frame = division & 0xFF
    # SMPTE code 29 means 29.97 drop-frame.
    rate = 30_000 / 1001 if frames_per_second == 29 else float(frames_per_second)
    return 1.0 / (rate * ticks_per_frame)


def _read_track(index: int, track: Iterable[Any], tempo_changes: list[tuple[int, int]]) -> _Track:
    tick = 0
    name: str | None = None
    events: list[_TickEvent] = []
    for msg in track:
        tick += msg.time
        if msg.type == "set_tempo":
            tempo_changes.append((tick, msg.tempo))
        elif msg.type == "track_name" and name is None:
            name = msg.name
        else:
            event = _channel_event(msg)
            if event is not None:
                kind, data1, data2 = event
                events.append(_TickEvent(tick, index, len(events), kind, msg.channel, data1, data2))
    return _Track(name=name, end_tick=tick, events=events)


def _channel_event(msg: Any) -> tuple[EventKind, int, int] | None:
    match msg.type:
        case "note_on":
            return EventKind.NOTE_ON, msg.note, msg.velocity
        case "note_off":
            return EventKind.NOTE_OFF, msg.note, 0
        case "control_change":
            return EventKind.CONTROL_CHANGE, msg.control, msg.value
        case "program_change":
            return EventKind.PROGRAM_CHANGE, msg.program, 0
        case "pitchwheel":
            return EventKind.PITCH_BEND, msg.pitch + 8192, 0
        case "aftertouch":
            return EventKind.CHANNEL_PRESSURE, msg.value, 0
        case "polytouch":
            return EventKind.KEY_PRESSURE, msg.note, msg.value
    return None


def _is_sounding_note(event: _TickEvent) -> bool:
    return event.kind is EventKind.NOTE_ON and event.data2 > 0


def _is_note(event: _TickEvent) -> bool:
    return event.kind in (EventKind.NOTE_ON, EventKind.NOTE_OFF)


def _stems_by_channel(track: _Track) -> list[tuple[str, list[_TickEvent]]]:
    """Type 0: one stem per channel that plays notes."""
    by_channel: dict[int, list[_TickEvent]] = defaultdict(list)
    for event in track.events:
        by_channel[event.channel].append(event)
    return [
        (_channel_name(channel, events), events)
        for channel, events in sorted(by_channel.items())
        if any(_is_sounding_note(event) for event in events)
    ]


def _channel_name(channel: int, events: list[_TickEvent]) -> str:
    if channel == DRUM_CHANNEL:
        return "Drums"
    programs = (event.data1 for event in events if event.kind is EventKind.PROGRAM_CHANGE)
    program = next(programs, None)
    fallback = f"channel_{channel + 1}"
    return _stem_name(GM_PROGRAM_NAMES[program], fallback) if program is not None else fallback


def _stems_by_track(tracks: list[_Track]) -> list[tuple[str, list[_TickEvent]]]:
    """Type 1 (and 2): one stem per track that plays notes.

    Channel state is shared between tracks when the file plays as a whole (a conductor track often sets
    the programs), so each stem also takes the other tracks' non-note events on the channels it plays.
    """
    state_events: dict[int, list[_TickEvent]] = defaultdict(list)
    for track in tracks:
        for event in track.events:
            if not _is_note(event):
                state_events[event.channel].append(event)
    stems = []
    for index, track in enumerate(tracks):
        channels = {event.channel for event in track.events if _is_sounding_note(event)}
        if not channels:
            continue
        borrowed = (event for channel in channels for event in state_events[channel] if event.track != index)
        events = sorted([*track.events, *borrowed], key=lambda e: (e.tick, e.track, e.seq))
        stems.append((_stem_name(track.name or "", f"track_{index + 1}"), events))
    return stems


def _stem_name(raw: str, fallback: str) -> str:
    return sanitize_stem_name(raw) or fallback


def _unique_names(
    stems: list[tuple[str, list[_TickEvent]]],
) -> list[tuple[str, list[_TickEvent]]]:
    # Compared without case so stems can be written to case-insensitive file systems.
    used: set[str] = set()
    unique = []
    for name, events in stems:
        candidate = name
        suffix = 2
        while candidate.lower() in used:
            candidate = f"{name}_{suffix}"
            suffix += 1
        used.add(candidate.lower())
        unique.append((candidate, events))
    return unique


def _timed(events: list[_TickEvent], clock: _Clock) -> tuple[MidiEvent, ...]:
    return tuple(MidiEvent(clock.seconds(e.tick), e.kind, e.channel, e.data1, e.data2) for e in events)
