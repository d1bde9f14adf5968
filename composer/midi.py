"""Standard MIDI File writer: a conductor track plus one track per part, vectorised with numpy for speed.

Notes are cleaned on the way out: clipped to the song, velocities kept in 1-127, and a note cut short where the
same pitch starts again on its channel, so no two notes of one pitch ever overlap."""

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from composer.score import NOTE_ON, TICKS_PER_BEAT, Meter, Part

NOTE_OFF = 0x80
PROGRAM_CHANGE = 0xC0
# Sort order of channel events at one tick: releases, then controllers and bends, then new notes.
_OFF_FIRST, _CONTROL_NEXT, _ON_LAST = 0, 1, 2

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class MidiTrack:
    name: str
    channel: int
    program: int
    part: Part
    mix: tuple[tuple[int, int], ...]  # (controller, value) at the start: volume, pan, reverb send


@dataclass(frozen=True)
class Conductor:
    title: str
    bpm: float
    sharps: int
    minor: bool
    meter: Meter
    markers: tuple[tuple[int, str], ...]  # (tick, text)


def tempo_of(bpm: float) -> int:
    """Microseconds per beat, rounded exactly as mido.bpm2tempo does."""
    return round(60 * 1e6 / bpm)


def write_midi(conductor: Conductor, tracks: list[MidiTrack], end: int) -> tuple[bytes, list[int]]:
    """The type-1 file, and the number of notes each track kept after cleaning."""
    chunks = [_conductor_chunk(conductor, end)]
    counts = []
    for track in tracks:
        chunk, count = _track_chunk(track, end)
        chunks.append(chunk)
        counts.append(count)
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), TICKS_PER_BEAT)
    return header + b"".join(chunks), counts


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    return bytes((0xFF, kind)) + _vlq(len(data)) + data


def _chunk(body: bytes) -> bytes:
    return b"MTrk" + struct.pack(">I", len(body)) + body


def _conductor_chunk(conductor: Conductor, end: int) -> bytes:
    body = bytearray(b"\x00" + _meta(0x03, conductor.title.encode()))
    body += b"\x00" + _meta(0x51, tempo_of(conductor.bpm).to_bytes(3, "big"))
    body += b"\x00" + _meta(0x58, _time_signature(conductor.meter))
    body += b"\x00" + _meta(0x59, struct.pack(">bB", conductor.sharps, int(conductor.minor)))
    now = 0
    for tick, text in conductor.markers:
        body += _vlq(tick - now) + _meta(0x06, text.encode())
        now = tick
    body += _vlq(end - now) + _meta(0x2F, b"")
    return _chunk(bytes(body))


def _time_signature(meter: Meter) -> bytes:
    """Numerator, the denominator's power of two, MIDI clocks per metronome click (6 a sixteenth), 32nds a beat."""
    return bytes((meter.numerator, meter.denominator.bit_length() - 1, 6 * meter.click_steps, 8))


def clean_notes(notes: list[tuple[int, int, int, int]], end: int) -> Ints:
    """Notes as rows (start, stop, pitch, velocity): inside the song, none overlapping one of its own pitch."""
    if not notes:
        return np.zeros((0, 4), dtype=np.int64)
    raw = np.asarray(notes, dtype=np.int64)
    start = np.clip(raw[:, 0], 0, end)
    stop = np.clip(start + np.maximum(raw[:, 1], 1), 0, end)
    pitch = np.clip(raw[:, 2], 0, 127)
    velocity = np.clip(raw[:, 3], 1, 127)
    order = np.lexsort((start, pitch))
    start, stop, pitch, velocity = start[order], stop[order], pitch[order], velocity[order]
    same_pitch_next = np.append(pitch[1:] == pitch[:-1], False)
    next_start = np.append(start[1:], end)
    stop = np.where(same_pitch_next, np.minimum(stop, next_start), stop)
    keep = stop > start
    rows: Ints = np.stack((start[keep], stop[keep], pitch[keep], velocity[keep]), axis=1)
    return rows[np.argsort(rows[:, 0], kind="stable")]


def _track_chunk(track: MidiTrack, end: int) -> tuple[bytes, int]:
    channel = track.channel
    prefix = bytearray(b"\x00" + _meta(0x03, track.name.encode()))
    prefix += bytes((0, PROGRAM_CHANGE | channel, track.program))
    for controller, value in track.mix:
        prefix += bytes((0, 0xB0 | channel, controller, value))
    notes = clean_notes(track.part.notes, end)
    count = len(notes)
    controls = np.asarray(track.part.events, dtype=np.int64).reshape(-1, 4)
    tick = np.concatenate((notes[:, 1], np.clip(controls[:, 0], 0, end), notes[:, 0]))
    order = np.concatenate(
        (np.full(count, _OFF_FIRST), np.full(len(controls), _CONTROL_NEXT), np.full(count, _ON_LAST))
    )
    status = np.concatenate((np.full(count, NOTE_OFF), controls[:, 1], np.full(count, NOTE_ON))) | channel
    data1 = np.concatenate((notes[:, 2], controls[:, 2], notes[:, 2]))
    data2 = np.concatenate((np.full(count, 64), controls[:, 3], notes[:, 3]))
    sort = np.lexsort((order, tick))
    tick, status, data1, data2 = tick[sort], status[sort], data1[sort], data2[sort]
    deltas = np.diff(tick, prepend=0)
    last = int(tick[-1]) if len(tick) else 0
    body = bytes(prefix) + _encode_events(deltas, status, data1, data2) + _vlq(end - last) + _meta(0x2F, b"")
    return _chunk(body), count


def _encode_events(deltas: Ints, status: Ints, data1: Ints, data2: Ints) -> bytes:
    """Delta-time (variable-length quantity) + three bytes per event, for all events at once."""
    lengths = 1 + (deltas >= 1 << 7) + (deltas >= 1 << 14) + (deltas >= 1 << 21)
    sizes = lengths + 3
    offsets = np.cumsum(sizes) - sizes
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    for byte in range(4):
        has = lengths > byte
        remaining = lengths[has] - 1 - byte
        value = (deltas[has] >> (7 * remaining)) & 0x7F
        out[offsets[has] + byte] = value | np.where(remaining > 0, 0x80, 0)
    out[offsets + lengths] = status
    out[offsets + lengths + 1] = data1
    out[offsets + lengths + 2] = data2
    return out.tobytes()
