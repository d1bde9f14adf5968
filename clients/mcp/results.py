"""What the MCP tools answer: the files a call wrote and what the stack said about them, as pydantic models (their
JSON schemas are the tools' output schemas), and the writing of a call's results into a folder of its own."""

import secrets
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from clients.client import AudioResult, ComposeResult, TranscribeResult, safe_file_name
from dgxmusic.v1 import audio_pb2, library_pb2
from dgxmusic.v1 import music_service_pb2 as pb

_SUFFIXES = {"wav": ".wav", "flac": ".flac"}


class Track(BaseModel):
    name: str
    instrument: str = Field(description="General MIDI instrument name")
    channel: int = Field(description="MIDI channel, 1-16 (10 is drums)")
    program: int = Field(description="General MIDI program, 0-127")
    is_drum: bool
    notes: int


class Section(BaseModel):
    name: str = Field(description="intro, verse, drop...")
    start_bar: int = Field(description="the bar it starts at, counted from 0")
    bars: int


class Song(BaseModel):
    """A composed song as the stack describes it."""

    title: str = Field(description="the prompt it was composed from")
    genre: str
    bpm: float
    key: str
    time_signature: str
    bars: int
    duration_seconds: float
    seed: int = Field(description="the same prompt, options and seed give the same song")
    tracks: list[Track]
    sections: list[Section]


class Timing(BaseModel):
    request_id: str = Field(description="finds the call in the server's logs")
    cache_hit: bool
    total_seconds: float


class SongFiles(BaseModel):
    """compose: the song's MIDI, its rendered mix and stems, and (if asked) their transcriptions."""

    result_id: str = Field(description="names this result to ardour_import")
    folder: str
    midi: str = Field(description="the song as a type-1 Standard MIDI File, one track per instrument")
    mix: str | None = Field(description="the rendered mix")
    stems: dict[str, str] = Field(description="audio file of each stream by name: tracks, separated stems")
    transcriptions: dict[str, str] = Field(description="MIDI transcribed back from each pitched track")
    song: Song
    timing: Timing


class MidiSong(BaseModel):
    midi: str
    song: Song


class MidiFiles(BaseModel):
    """generate_midi: one MIDI file per variation."""

    result_id: str
    folder: str
    songs: list[MidiSong]


class AudioFiles(BaseModel):
    """render, separate, generate_audio: the audio written."""

    result_id: str
    folder: str
    mix: str | None = Field(description="the whole piece (render, generate_audio); none for separate")
    stems: dict[str, str] = Field(description="audio file of each stem or track by name")
    sample_rate: int
    timing: Timing


class TranscriptionFile(BaseModel):
    """transcribe: the notes found, as MIDI."""

    result_id: str
    folder: str
    midi: str
    notes: int
    lowest_pitch: int | None = Field(description="MIDI note number; none without notes")
    highest_pitch: int | None
    seconds: float = Field(description="where the last note ends")
    timing: Timing


class Model(BaseModel):
    name: str
    version: str
    state: str = Field(description="ready, weights missing, failed or unavailable")
    message: str = Field(description="what is wrong and how to fix it, when it is not ready")
    memory_bytes: int


class Models(BaseModel):
    models: list[Model]


class LibraryItem(BaseModel):
    id: str = Field(description="names the item to library_get")
    kind: str = Field(description="compose, generate_midi, render, transcribe, separate or generate_audio")
    created: str = Field(description="when it was made (UTC, ISO 8601)")
    prompt: str
    genre: str
    key: str
    bpm: float
    tags: list[str]
    pinned: bool
    score: float = Field(description="how well it matched (higher first)")
    files: list[str] = Field(description="its files' names")


class LibraryItems(BaseModel):
    """library_search: the caller's items that match, best first."""

    items: list[LibraryItem]


class LibraryFiles(BaseModel):
    """library_get: an item's files, written under a folder of their own."""

    item: LibraryItem
    folder: str
    files: list[str] = Field(description="the paths written, each checked against its SHA-256")


def library_item(item: library_pb2.LibraryItem) -> LibraryItem:
    return LibraryItem(
        id=item.id,
        kind=item.kind,
        created=item.created.ToDatetime(tzinfo=UTC).isoformat(),
        prompt=item.prompt,
        genre=item.genre,
        key=item.key,
        bpm=item.bpm,
        tags=list(item.tags),
        pinned=item.pinned,
        score=item.score,
        files=[file.name for file in item.files],
    )


class Instrument(BaseModel):
    name: str = Field(description='the name `instruments` takes: "sf2:FluidR3_GM", "lv2:mda-piano", "vst2:zynaddsubfx"')
    format: str = Field(description="soundfont, lv2 or vst2")
    title: str = Field(description='its own name: "MDA Piano"')
    presets: list[str] = Field(description='its presets: "<name>/<preset>" plays one')
    is_default: bool = Field(description="the SoundFont a call that names none plays")


class InstrumentChoice(BaseModel):
    track: str = Field(description='the tracks it picks: a name, "drums", "program:33", a family ("piano")')
    instrument: str


class InstrumentSet(BaseModel):
    name: str = Field(description="the name `instrument_set` takes")
    description: str
    choices: list[InstrumentChoice] = Field(description="what it plays, in order: the first that picks a track wins")
    missing: list[str] = Field(description="its instruments not installed here: their tracks play the SoundFont")


class Instruments(BaseModel):
    instruments: list[Instrument]
    instrument_sets: list[InstrumentSet]


def song(info: pb.SongInfo, title: str) -> Song:
    return Song(
        title=title,
        genre=info.genre,
        bpm=info.bpm,
        key=info.key,
        time_signature=info.time_signature,
        bars=info.bars,
        duration_seconds=info.duration_seconds,
        seed=info.seed,
        tracks=[
            Track(
                name=t.name,
                instrument=t.instrument,
                channel=t.channel + 1,
                program=t.program,
                is_drum=t.is_drum,
                notes=t.note_count,
            )
            for t in info.tracks
        ],
        sections=[Section(name=s.name, start_bar=s.start_bar, bars=s.bars) for s in info.sections],
    )


def timing(summary: pb.Summary) -> Timing:
    return Timing(request_id=summary.request_id, cache_hit=summary.cache_hit, total_seconds=summary.total_seconds)


def model(status: pb.ModelStatus) -> Model:
    state = pb.ModelState.Name(status.state).removeprefix("MODEL_STATE_").lower().replace("_", " ")
    return Model(
        name=status.name,
        version=status.version,
        state=state,
        message=status.message,
        memory_bytes=status.memory_bytes,
    )


def instruments(found: pb.ListInstrumentsResponse) -> Instruments:
    return Instruments(
        instruments=[
            Instrument(
                name=instrument.name,
                format=pb.InstrumentFormat.Name(instrument.format).removeprefix("INSTRUMENT_FORMAT_").lower(),
                title=instrument.title,
                presets=list(instrument.presets),
                is_default=instrument.is_default,
            )
            for instrument in found.instruments
        ],
        instrument_sets=[
            InstrumentSet(
                name=instrument_set.name,
                description=instrument_set.description,
                choices=[InstrumentChoice(track=c.track, instrument=c.instrument) for c in instrument_set.choices],
                missing=list(instrument_set.missing),
            )
            for instrument_set in found.instrument_sets
        ],
    )


def new_folder(out_dir: Path, tool: str) -> Path:
    """A folder of its own for one call's results, named so that a listing sorts them by time: two calls never
    write over each other, and a file name Ardour already holds is never offered to it again."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = out_dir / f"{stamp}-{tool}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    return folder.resolve()


def _stems(result: AudioResult, folder: Path, suffix: str) -> dict[str, str]:
    paths = result.write_stems(folder / "stems", suffix) if result.stems else []
    return {name: str(path) for name, path in zip(result.stems, paths, strict=True)}


def _mix(result: AudioResult, folder: Path, name: str) -> str | None:
    return str(result.write_stream("", folder / name)) if "" in result.assembler.encoded else None


def write_song(result: ComposeResult, folder: Path, title: str, fmt: str) -> SongFiles:
    """song.mid, mix.<fmt>, stems/<stream>.<fmt> and transcribed/<track>.mid."""
    midi = folder / "song.mid"
    midi.write_bytes(result.midi)
    transcriptions = {}
    for name, transcription in result.transcriptions.items():
        path = folder / "transcribed" / f"{safe_file_name(name or 'mix')}.mid"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(transcription.midi)
        transcriptions[name] = str(path)
    return SongFiles(
        result_id=folder.name,
        folder=str(folder),
        midi=str(midi),
        mix=_mix(result, folder, "mix" + _SUFFIXES[fmt]),
        stems=_stems(result, folder, _SUFFIXES[fmt]),
        transcriptions=transcriptions,
        song=song(result.info, title),
        timing=timing(result.summary),
    )


def write_songs(songs: list[pb.MidiResult], folder: Path, title: str) -> MidiFiles:
    """song.mid, or song_1.mid, song_2.mid... for variations."""
    written = []
    for number, found in enumerate(songs, start=1):
        path = folder / ("song.mid" if len(songs) == 1 else f"song_{number}.mid")
        path.write_bytes(found.midi)
        written.append(MidiSong(midi=str(path), song=song(found.info, title)))
    return MidiFiles(result_id=folder.name, folder=str(folder), songs=written)


def write_audio(result: AudioResult, folder: Path, fmt: str, mix_name: str = "mix") -> AudioFiles:
    """<mix_name>.<fmt> (when the result has a mix) and stems/<stem>.<fmt>."""
    return AudioFiles(
        result_id=folder.name,
        folder=str(folder),
        mix=_mix(result, folder, mix_name + _SUFFIXES[fmt]),
        stems=_stems(result, folder, _SUFFIXES[fmt]),
        sample_rate=result.sample_rate,
        timing=timing(result.summary),
    )


def write_generated(result: AudioResult, folder: Path, fmt: str) -> AudioFiles:
    """MusicGen's clip (its stream "0") as generated.<fmt>."""
    clip = str(result.write_stream("0", folder / ("generated" + _SUFFIXES[fmt]))) if "0" in result.stems else None
    return AudioFiles(
        result_id=folder.name,
        folder=str(folder),
        mix=clip,
        stems={},
        sample_rate=result.sample_rate,
        timing=timing(result.summary),
    )


def write_transcription(result: TranscribeResult, folder: Path, name: str) -> TranscriptionFile:
    path = folder / f"{safe_file_name(name)}.mid"
    path.write_bytes(result.transcription.midi)
    pitches = [note.pitch for note in result.transcription.notes]
    return TranscriptionFile(
        result_id=folder.name,
        folder=str(folder),
        midi=str(path),
        notes=len(pitches),
        lowest_pitch=min(pitches, default=None),
        highest_pitch=max(pitches, default=None),
        seconds=max((note.end_seconds for note in result.transcription.notes), default=0.0),
        timing=timing(result.summary),
    )


def audio_format(fmt: str, sample_rate: int) -> audio_pb2.AudioFormat:
    encoding = audio_pb2.AUDIO_ENCODING_FLAC if fmt == "flac" else audio_pb2.AUDIO_ENCODING_WAV
    return audio_pb2.AudioFormat(sample_rate=sample_rate, encoding=encoding)
