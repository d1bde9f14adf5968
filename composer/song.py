"""compose(): request -> plan -> arrangement -> parts -> MIDI file, with metadata on what was made and why."""

import random
from dataclasses import asdict, dataclass
from typing import Any

from composer.arrange import Section, arrange
from composer.bass import bass_part
from composer.effects import fx_part
from composer.grooves import drum_part
from composer.harmony import chord_part, ending_on_the_tonic, pad_part
from composer.instruments import Role, program_name
from composer.melody import lead_part
from composer.midi import Conductor, MidiTrack, write_midi
from composer.plan import SongPlan, TrackPlan, plan_song
from composer.request import SongRequest
from composer.score import Feel, Part
from composer.theory import Chord

COMPOSER_VERSION = "1.6.0"  # part of the cache key: bump when the same request composes differently
VOLUME, PAN, REVERB = 7, 10, 91
MIX: dict[Role, tuple[int, int, int]] = {  # volume, pan, reverb send
    "drums": (100, 64, 20), "bass": (104, 64, 0), "chords": (80, 50, 40), "lead": (90, 78, 45),
    "pad": (70, 64, 70), "fx": (60, 64, 60),
}  # fmt: skip


@dataclass(frozen=True)
class TrackInfo:
    name: str
    channel: int
    program: int
    instrument: str
    is_drum: bool
    note_count: int


@dataclass(frozen=True)
class SectionInfo:
    name: str
    start_bar: int
    bars: int
    energy: float


@dataclass(frozen=True)
class SongMetadata:
    genre: str
    bpm: float
    key: str
    scale_pitch_classes: list[int]
    time_signature: str
    bars: int
    duration_seconds: float
    seed: int
    tracks: list[TrackInfo]
    sections: list[SectionInfo]
    chord_progression: list[str]
    borrowed_chords: list[str]  # chords of the progression with tones outside the key's scale, each once
    sources: dict[str, str]
    unknown_words: list[str]
    composer_version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ComposedSong:
    midi: bytes
    metadata: SongMetadata


def validate(request: SongRequest) -> None:
    """Raises InvalidSongRequest (or SongRequestTooLarge) naming the field at fault; returns if compose would work."""
    plan_song(request)


def compose(request: SongRequest) -> ComposedSong:
    plan = plan_song(request)
    sections = arrange(plan.genre.form, plan.bars, plan.structure)
    chords = _chords_by_bar(plan, sections)
    bar = plan.meter.bar_ticks
    end = plan.bars * bar
    parts = _parts(plan, sections, chords)
    # A genre's track that the form leaves silent (a pad in a lone drop) is left out rather than sent empty.
    played = [track for track in plan.tracks if parts[track.role].notes or track.asked]
    tracks = [MidiTrack(t.name, t.channel, t.program, parts[t.role], _mix(t, plan)) for t in played]
    conductor = Conductor(
        f"{plan.genre.name} - {plan.key.name} - {plan.bpm:g} BPM",
        plan.bpm,
        plan.key.sharps,
        plan.key.is_minor,
        plan.meter,
        tuple((section.start_bar * bar, section.name) for section in sections),
    )
    midi, counts = write_midi(conductor, tracks, end)
    return ComposedSong(midi, _metadata(plan, played, sections, chords, counts))


def _chords_by_bar(plan: SongPlan, sections: tuple[Section, ...]) -> list[Chord]:
    """The progression restarts with every section, so each section opens on its first chord; a song on the genre's
    progression ends on its tonic chord."""
    chords: list[Chord] = []
    for section in sections:
        for bar in range(section.bars):
            index = (bar // plan.bars_per_chord) % len(plan.progression)
            chords.append(plan.progression[index])
    if plan.sources["chord_progression"] == "prompt":
        return chords  # as the prompt wrote it, to the last bar
    return ending_on_the_tonic(chords, plan.progression, plan.key, plan.bars_per_chord)


def _parts(plan: SongPlan, sections: tuple[Section, ...], chords: list[Chord]) -> dict[Role, Part]:
    genre = plan.genre
    swing = genre.swing + (0.06 if plan.mood.swing else 0.0)

    def rng(role: str) -> random.Random:
        return random.Random(f"{plan.seed}:{role}")

    def feel(role: str) -> Feel:
        return Feel(swing, genre.humanize, rng(f"{role}:feel"), plan.meter)

    form = genre.form
    drums, kicks = drum_part(genre, sections, feel("drums"), rng("drums"), plan.mood.intensity)
    if plan.track("drums") is None:
        kicks = [[] for _ in range(plan.bars)]
    parts: dict[Role, Part] = {"drums": drums}
    parts["bass"] = bass_part(plan.bass_style, form, plan.key, sections, chords, kicks, feel("bass"), rng("bass"))
    parts["chords"] = chord_part(
        genre.chords, genre.name, form, sections, chords, feel("chords"), rng("chords"), plan.key
    )
    parts["lead"] = lead_part(
        genre.lead, form, plan.key, genre.lead_center, sections, chords, feel("lead"), rng("lead")
    )
    parts["pad"] = pad_part(form, sections, chords, feel("pad"), plan.key)
    fx = plan.track("fx")
    parts["fx"] = fx_part(fx.program, form, plan.key, plan.meter, sections) if fx else Part()
    return parts


def _mix(track: TrackPlan, plan: SongPlan) -> tuple[tuple[int, int], ...]:
    volume, pan, reverb = MIX[track.role]
    if plan.genre.form == "ambient" or plan.genre.name == "lo-fi hip-hop":
        reverb = min(127, reverb + 30)
    return (VOLUME, volume), (PAN, pan), (REVERB, reverb)


def _metadata(
    plan: SongPlan, played: list[TrackPlan], sections: tuple[Section, ...], chords: list[Chord], counts: list[int]
) -> SongMetadata:
    tracks = [
        TrackInfo(t.name, t.channel, t.program, program_name(t.program, t.role == "drums"), t.role == "drums", n)
        for t, n in zip(played, counts, strict=True)
    ]
    return SongMetadata(
        genre=plan.genre.name,
        bpm=plan.bpm,
        key=plan.key.name,
        scale_pitch_classes=list(plan.key.scale),
        time_signature=plan.meter.name,
        bars=plan.bars,
        duration_seconds=plan.duration_seconds,
        seed=plan.seed,
        tracks=tracks,
        sections=[SectionInfo(s.name, s.start_bar, s.bars, s.energy) for s in sections],
        chord_progression=[chord.symbol for chord in plan.progression],
        borrowed_chords=_borrowed(plan),
        sources=dict(plan.sources),
        unknown_words=list(plan.unknown_words),
        composer_version=COMPOSER_VERSION,
    )


def _borrowed(plan: SongPlan) -> list[str]:
    """The progression's chords that leave the key's scale ('E7' in C major, 'G/B' is not), in order, each once."""
    scale = set(plan.key.scale)
    borrowed = [chord.symbol for chord in plan.progression if not set(chord.tones) <= scale]
    return list(dict.fromkeys(borrowed))
