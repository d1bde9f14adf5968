"""compose(): request -> plan -> arrangement -> parts -> MIDI file, with metadata on what was made and why."""

import random
from dataclasses import asdict, dataclass
from typing import Any

from composer import keyfinding
from composer.arrange import Section, arrange, plays
from composer.bass import bass_part
from composer.ensemble import (
    OCTAVE,
    arpeggio_part,
    effect_part,
    fitted,
    held_part,
    in_harmony,
    transposed,
)
from composer.grooves import drum_part
from composer.harmony import chord_part, ending_on_the_tonic, pad_part
from composer.instruments import Role, program_name
from composer.melody import lead_part
from composer.midi import Conductor, MidiTrack, write_midi
from composer.moods import apply_dynamics
from composer.plan import SongPlan, TrackPlan, plan_song
from composer.request import SongRequest
from composer.score import Feel, Part
from composer.theory import Chord

COMPOSER_VERSION = "2.0.0"  # part of the cache key: bump when the same request composes differently
VOLUME, PAN, REVERB = 7, 10, 91
MIX: dict[Role, tuple[int, int, int]] = {  # volume, pan, reverb send
    "drums": (100, 64, 20), "bass": (104, 64, 0), "chords": (80, 50, 40), "lead": (90, 78, 45),
    "pad": (70, 64, 70), "fx": (60, 64, 60),
}  # fmt: skip
# Further instruments in a role sit a little lower and spread out across the stereo field from the role's place.
FURTHER_VOICE_VOLUME = -8
PAN_SPREAD = (0, -28, 28, -44, 44, -54, 54)


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
    played = [(track, part) for track, part in zip(plan.tracks, parts, strict=True) if part.notes or track.asked]
    tracks = [MidiTrack(t.name, t.channel, t.program, part, _mix(t, plan)) for t, part in played]
    conductor = Conductor(
        f"{plan.genre.title} - {plan.key.name} - {plan.bpm:g} BPM",
        plan.bpm,
        plan.key.sharps,
        plan.key.is_minor,
        plan.meter,
        tuple((section.start_bar * bar, section.name) for section in sections),
    )
    midi, counts = write_midi(conductor, tracks, end)
    return ComposedSong(midi, _metadata(plan, [track for track, _ in played], sections, chords, counts))


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


def _parts(plan: SongPlan, sections: tuple[Section, ...], chords: list[Chord]) -> list[Part]:
    """Each track's part, in the plan's order. The first track of a role plays the role's part; a further named
    instrument in it plays a second part made from it or from the chords."""
    own = _own_parts(plan, sections, chords)
    form = plan.genre.form
    parts = []
    for track in plan.tracks:
        name = f"{track.role}:{track.voice}"
        sounding = _sections_sounding(plan, track.role, sections)
        if track.role == "fx":
            part = effect_part(track.program, form, plan.key, sounding, chords, _feel(plan, name), named=track.asked)
        elif track.voice == 0:
            part = own[track.role]
        elif track.role == "bass":  # a second bass doubles the first an octave up: a cello over a contrabass
            part = transposed(own["bass"], OCTAVE)
        elif track.role == "lead":
            part = _further_melody(
                plan, track.voice, own["lead"], sounding, chords, _feel(plan, name), _rng(plan, name)
            )
        elif track.voice % 2:
            part = arpeggio_part(form, track.role, sounding, chords, _feel(plan, name))
        else:
            part = held_part(form, track.role, sounding, chords, _feel(plan, name))
        parts.append(fitted(part, track.register) if track.register else part)
    for track, part in zip(plan.tracks, parts, strict=True):
        if track.role != "drums":  # the drums follow the mood's intensity in their own loudness
            apply_dynamics(part, plan.mood.dynamics)
    _state_the_key(plan, parts)
    return parts


def _state_the_key(plan: SongPlan, parts: list[Part]) -> None:
    """Where the notes would be heard in another key (a loop dwelling on the relative major's chords), the
    accompaniment holds a tonic pedal: the most sustained part first, the bass where nothing else accompanies."""
    pitched = [(track, part) for track, part in zip(plan.tracks, parts, strict=True) if track.role != "drums"]
    bass_doubled = any(track.role == "bass" and track.voice for track in plan.tracks)  # a copy: leave both alone
    holders = [
        part
        for role in ("pad", "chords", "bass", "lead")
        for track, part in pitched
        if track.role == role and not (role == "bass" and bass_doubled)
    ]
    # The tonic and fifth in one part after another, then the third that tells the mode.
    steps = [(part, (0, 4)) for part in holders if part.notes] + [(part, (2,)) for part in holders if part.notes]
    for holder, degrees in steps:
        if keyfinding.states(keyfinding.durations([part for _, part in pitched]), plan.key):
            return
        keyfinding.add_pedal(holder, plan.key, plan.meter.bar_ticks, plan.bars, degrees)


def _rng(plan: SongPlan, name: str) -> random.Random:
    return random.Random(f"{plan.seed}:{name}")


def _feel(plan: SongPlan, name: str) -> Feel:
    swing = plan.genre.swing + (0.06 if plan.mood.swing else 0.0)
    return Feel(swing, plan.genre.humanize, _rng(plan, f"{name}:feel"), plan.meter)


def _own_parts(plan: SongPlan, sections: tuple[Section, ...], chords: list[Chord]) -> dict[Role, Part]:
    """The part of each role the plan has a track in (the fx's are each track's own)."""
    genre, key, form = plan.genre, plan.key, plan.genre.form

    def sounding(role: Role) -> tuple[Section, ...]:
        return _sections_sounding(plan, role, sections)

    def feel(role: Role) -> Feel:
        return _feel(plan, role)

    def rng(role: Role) -> random.Random:
        return _rng(plan, role)

    roles = {track.role for track in plan.tracks}
    kicks: list[list[int]] = [[] for _ in range(plan.bars)]
    own: dict[Role, Part] = {}
    if "drums" in roles:
        own["drums"], kicks = drum_part(genre, sounding("drums"), feel("drums"), rng("drums"), plan.mood.intensity)
    if "bass" in roles:
        own["bass"] = bass_part(plan.bass_style, form, key, sounding("bass"), chords, kicks, feel("bass"), rng("bass"))
    if "chords" in roles:
        own["chords"] = chord_part(
            genre.chords, genre.name, form, sounding("chords"), chords, feel("chords"), rng("chords"),
            plan.mood.density, key=key,
        )  # fmt: skip
    if "lead" in roles:
        center = genre.lead_center + plan.mood.register
        own["lead"] = lead_part(
            genre.lead, form, key, center, sounding("lead"), chords, feel("lead"), rng("lead"), plan.mood.density
        )
    if "pad" in roles:
        own["pad"] = pad_part(form, sounding("pad"), chords, feel("pad"), key=key)
    return own


def _sections_sounding(plan: SongPlan, role: Role, sections: tuple[Section, ...]) -> tuple[Section, ...]:
    """The sections as the role's part sees them. A named instrument plays where the form would leave it out in
    two cases: where no track at all would play (a song form's intro when only a melody and a bass were named), and
    all through a song too short for any section its role plays in (a pad in a lone drop). There its section reads
    as a chorus, which every form fills with every role, at the section's own energy."""
    form = plan.genre.form
    if not any(track.asked for track in plan.tracks if track.role == role):
        return sections
    roles = {track.role for track in plan.tracks}
    silent_throughout = not any(plays(form, section, role) for section in sections)
    return tuple(
        Section("chorus", s.start_bar, s.bars, s.energy)
        if silent_throughout or not any(plays(form, s, other) for other in roles)
        else s
        for s in sections
    )


def _further_melody(
    plan: SongPlan, voice: int, melody: Part, sections: tuple[Section, ...], chords: list[Chord], feel: Feel,
    rng: random.Random,
) -> Part:  # fmt: skip
    """A second melodic instrument plays the melody a third below, the third a slow counter-line of its own, the
    fourth the melody an octave below, and so on round."""
    kind = (voice - 1) % 3
    if kind == 0:
        return in_harmony(melody, plan.key)
    if kind == 1:
        form, center = plan.genre.form, plan.genre.lead_center - 7
        return lead_part("slow", form, plan.key, center, sections, chords, feel, rng)
    return transposed(melody, -OCTAVE)


def _mix(track: TrackPlan, plan: SongPlan) -> tuple[tuple[int, int], ...]:
    volume, pan, reverb = MIX[track.role]
    if track.voice:
        volume += FURTHER_VOICE_VOLUME
    if track.voice and track.role != "bass":  # the low end stays in the middle
        pan = max(0, min(127, pan + PAN_SPREAD[track.voice % len(PAN_SPREAD)]))
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
        genre=plan.genre.title,
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
