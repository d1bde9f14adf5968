"""What a result of the stack puts into an Ardour session, as plain data: the ImportPlan. Its builders write the
result's files into a folder of their own (one MIDI file per generated track, audio as the server encoded it) and
`to_lua()` writes the plan as a Lua table that Ardour's scripts read with `dofile`: data only (strings escaped
byte by byte, numbers finite), so nothing the server sent can run as code inside Ardour.

Times inside a plan are counted from the start of the result: in quarter notes (`timebase="beats"`, a composed
song, which follows the session's tempo map) or in seconds (`timebase="seconds"`, audio turned into MIDI, which
follows the clock). Markers are at bars, 0-based."""

import io
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import mido

from clients.client import AudioResult, ComposeResult, JobResult, TrainResult, TranscribeResult, safe_file_name
from dgxmusic.v1 import jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb

Action = Literal["compose", "transcribe", "separate", "generate"]
Timebase = Literal["beats", "seconds"]
LuaValue = str | int | float | bool | None | list["LuaValue"] | dict[str, "LuaValue"]

PLAN_FILE = "plan.lua"
_METER = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_LUA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LUA_KEYWORDS = {
    *("and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil"),
    *("not", "or", "repeat", "return", "then", "true", "until", "while"),
}


@dataclass(frozen=True)
class Note:
    """One note: start and length in the plan's timebase, MIDI pitch, velocity (1-127) and 0-based channel."""

    start: float
    length: float
    pitch: int
    velocity: int
    channel: int = 0


@dataclass(frozen=True)
class MidiPart:
    """One generated track: its name (the new MIDI track's), its own MIDI file, and its notes, so that a session
    can place them without importing the file (headless Ardour has no import)."""

    name: str
    path: Path
    notes: tuple[Note, ...] = ()
    channel: int = 0
    program: int = 0
    is_drum: bool = False


@dataclass(frozen=True)
class AudioPart:
    """One audio file for a new audio track of this name (a stem, a rendered track, generated audio)."""

    name: str
    path: Path


@dataclass(frozen=True)
class Marker:
    name: str
    bar: int


@dataclass
class ImportPlan:
    """What lands in a session: new MIDI tracks, new audio tracks and markers, everything relative to the
    position the plan is placed at. ``bpm`` and ``meter`` are the result's own (None: it has none, as audio
    from a separation); ``length`` is the result's length in the timebase (0: as long as its content)."""

    action: Action
    title: str
    bpm: float | None = None
    meter: tuple[int, int] | None = None
    timebase: Timebase = "beats"
    length: float = 0.0
    midi: list[MidiPart] = field(default_factory=list)
    audio: list[AudioPart] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    folder: Path | None = None

    def to_lua(self) -> str:
        """The plan as a Lua chunk, ``return { ... }``."""
        return "return " + lua_literal(self.as_table()) + "\n"

    def as_table(self) -> dict[str, LuaValue]:
        table: dict[str, LuaValue] = {
            "action": self.action,
            "title": self.title,
            "timebase": self.timebase,
            "length": self.length,
            "midi": [_midi_table(part) for part in self.midi],
            "audio": [{"name": part.name, "path": str(part.path)} for part in self.audio],
            "markers": [{"name": marker.name, "bar": marker.bar} for marker in self.markers],
        }
        if self.bpm is not None:
            table["bpm"] = self.bpm
        if self.meter is not None:
            table["meter"] = {"num": self.meter[0], "den": self.meter[1]}
        return table

    def write_lua(self, path: Path | None = None) -> Path:
        """Writes the plan as Lua (by default plan.lua in its folder) and answers the file's path."""
        if path is None:
            if self.folder is None:
                raise ValueError("a plan with no folder needs a path to write its Lua to")
            path = self.folder / PLAN_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_lua(), encoding="ascii")
        return path


def _midi_table(part: MidiPart) -> dict[str, LuaValue]:
    notes: list[LuaValue] = [[note.start, note.length, note.pitch, note.velocity, note.channel] for note in part.notes]
    return {
        "name": part.name,
        "path": str(part.path),
        "channel": part.channel,
        "program": part.program,
        "drum": part.is_drum,
        "notes": notes,
    }


def lua_literal(value: LuaValue) -> str:
    """A Lua literal for plain data; a list becomes a sequence, a dict a record."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Lua has no literal for {value}")
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    return "{" + ", ".join(f"{_lua_key(key)} = {lua_literal(item)}" for key, item in value.items()) + "}"


def _lua_key(key: str) -> str:
    return key if _LUA_NAME.match(key) and key not in _LUA_KEYWORDS else f"[{lua_string(key)}]"


def lua_string(text: str) -> str:
    """A double-quoted Lua string of ``text``'s UTF-8 bytes: printable ASCII as it is, every other byte (and the
    quote and the backslash) as a three-digit decimal escape, so the file stays one line per value and ASCII."""
    out = []
    for byte in text.encode():
        if 0x20 <= byte < 0x7F and byte not in (0x22, 0x5C):
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def parse_meter(time_signature: str) -> tuple[int, int] | None:
    """(numerator, denominator) of "6/8"; None for what is no meter."""
    match = _METER.match(time_signature)
    if match is None:
        return None
    numerator, denominator = int(match[1]), int(match[2])
    return (numerator, denominator) if numerator > 0 and denominator > 0 else None


def new_plan_folder(parent: Path, action: Action, title: str) -> Path:
    """A fresh folder for one plan's files: its name (and so every file's name in it, which carries it too) is
    unique, because Ardour stops at a blocking dialog when an imported file's name is already in the session."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = parent / f"{action}-{stamp}-{secrets.token_hex(3)}-{safe_file_name(title)[:40]}"
    folder.mkdir(parents=True)
    return folder


def _file_in(folder: Path, name: str, suffix: str) -> Path:
    """``folder/<folder's unique tag>-<name><suffix>``, never an existing file."""
    tag = folder.name.split("-")[3] if folder.name.count("-") >= 3 else secrets.token_hex(3)
    base = f"{tag}-{safe_file_name(name)}"
    path = folder / f"{base}{suffix}"
    number = 2
    while path.exists():
        path = folder / f"{base}-{number}{suffix}"
        number += 1
    return path


def split_tracks(song: bytes) -> list[mido.MidiFile]:
    """A type-1 song as one file per track that has notes: the conductor track (tempo, meter, key) with it."""
    source = mido.MidiFile(file=io.BytesIO(song))
    if source.type != 1 or len(source.tracks) < 2:
        return [source] if _has_notes(source.tracks[0]) else []
    conductor = source.tracks[0]
    files = []
    for track in source.tracks[1:]:
        if not _has_notes(track):
            continue
        single = mido.MidiFile(type=1, ticks_per_beat=source.ticks_per_beat)
        single.tracks.extend([conductor, track])
        files.append(single)
    return files


def _has_notes(track: mido.MidiTrack) -> bool:
    return any(message.type == "note_on" and message.velocity > 0 for message in track)


def track_name(track: mido.MidiTrack) -> str:
    return next((str(message.name) for message in track if message.type == "track_name"), "")


def notes_in_beats(track: mido.MidiTrack, ticks_per_beat: int) -> tuple[Note, ...]:
    """A track's notes, start and length in quarter notes; a note still sounding at the end is dropped."""
    sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
    notes: list[Note] = []
    now = 0
    for message in track:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding.setdefault((message.channel, message.note), []).append((now, message.velocity))
        elif message.type in ("note_off", "note_on"):
            started = sounding.get((message.channel, message.note))
            if started:
                start, velocity = started.pop(0)
                length = (now - start) / ticks_per_beat
                if length > 0:
                    notes.append(Note(start / ticks_per_beat, length, message.note, velocity, message.channel))
    notes.sort(key=lambda note: (note.start, note.pitch))
    return tuple(notes)


def _program(track: mido.MidiTrack) -> int:
    return next((int(message.program) for message in track if message.type == "program_change"), 0)


def compose_plan(result: ComposeResult, parent: Path, *, title: str = "", stems: bool = True) -> ImportPlan:
    """A composed song: one MIDI part per generated track (named as the composer named it), its stems as audio
    parts when it has them (and ``stems``), a marker at the first bar of each section."""
    info = result.info
    title = title or info.genre or "song"
    folder = new_plan_folder(parent, "compose", title)
    meter = parse_meter(info.time_signature) or (4, 4)
    plan = ImportPlan(
        action="compose",
        title=title,
        bpm=info.bpm or None,
        meter=meter,
        timebase="beats",
        length=info.bars * meter[0] * 4 / meter[1],
        markers=[Marker(section.name, section.start_bar) for section in info.sections],
        folder=folder,
    )
    tracks_by_name = {track.name: track for track in info.tracks}
    for index, single in enumerate(split_tracks(result.midi)):
        track = single.tracks[-1]
        name = track_name(track) or (info.tracks[index].name if index < len(info.tracks) else f"track {index + 1}")
        described = tracks_by_name.get(name, pb.TrackInfo())
        path = _file_in(folder, name, ".mid")
        single.save(filename=str(path))
        plan.midi.append(
            MidiPart(
                name=name,
                path=path,
                notes=notes_in_beats(track, single.ticks_per_beat),
                channel=described.channel,
                program=described.program or _program(track),
                is_drum=described.is_drum,
            )
        )
    if stems:
        plan.audio += _audio_parts(result, folder)
    return plan


def transcribe_plan(result: TranscribeResult, parent: Path, *, title: str, seconds: float = 0.0) -> ImportPlan:
    """Audio turned into MIDI: one MIDI part named ``title``, its notes in seconds from the start of the audio
    (``seconds`` long: the audio's length, 0 for as long as the notes)."""
    folder = new_plan_folder(parent, "transcribe", title)
    path = _file_in(folder, title, ".mid")
    path.write_bytes(result.transcription.midi)
    notes = tuple(
        Note(note.start_seconds, note.end_seconds - note.start_seconds, note.pitch, max(1, min(127, note.velocity)))
        for note in result.transcription.notes
        if note.end_seconds > note.start_seconds
    )
    plan = ImportPlan(action="transcribe", title=title, timebase="seconds", length=seconds, folder=folder)
    plan.midi.append(MidiPart(name=title, path=path, notes=notes))
    return plan


def separate_plan(result: AudioResult, parent: Path, *, title: str) -> ImportPlan:
    """Stems of a separation: one audio part per stem, named "<title> <stem>"."""
    folder = new_plan_folder(parent, "separate", title)
    plan = ImportPlan(action="separate", title=title, timebase="seconds", folder=folder)
    plan.audio = _audio_parts(result, folder, prefix=f"{title} ")
    plan.length = _seconds(result)
    return plan


def generate_plan(result: AudioResult, parent: Path, *, title: str) -> ImportPlan:
    """MusicGen's clips (one per prompt, or the continuation of a region): one audio part each."""
    folder = new_plan_folder(parent, "generate", title)
    plan = ImportPlan(action="generate", title=title, timebase="seconds", folder=folder)
    named = len(result.stems) > 1
    for number, stream in enumerate(result.stems, start=1):
        name = f"{title} {number}" if named else title
        plan.audio.append(AudioPart(name, result.write_stream(stream, _file_in(folder, name, ".wav"))))
    plan.length = _seconds(result)
    return plan


def job_plan(job: jobs_pb2.Job, result: JobResult, parent: Path, *, title: str = "") -> ImportPlan:
    """The plan of a finished job's result, by the job's kind (Render's audio lands as generated audio does)."""
    title = title or job.kind.lower() or "result"
    if isinstance(result, ComposeResult):
        return compose_plan(result, parent, title=title if title != "compose" else "")
    if isinstance(result, TranscribeResult):
        return transcribe_plan(result, parent, title=title)
    if isinstance(result, TrainResult):
        raise ValueError("a train job makes an adapter on the server, nothing to import: generate with it")
    if job.kind == "Separate":
        return separate_plan(result, parent, title=title)
    return generate_plan(result, parent, title=title)


def _audio_parts(result: AudioResult, folder: Path, prefix: str = "") -> list[AudioPart]:
    parts = []
    for stream in result.stems:
        name = prefix + stream.rsplit("/", 1)[-1]
        parts.append(AudioPart(name, result.write_stream(stream, _file_in(folder, name, ".wav"))))
    return parts


def _seconds(result: AudioResult) -> float:
    longest = max((len(samples) for samples in result.stems.values()), default=len(result.mix))
    return longest / result.sample_rate if result.sample_rate else 0.0
