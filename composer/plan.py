"""Resolves a request into a song plan: every value chosen, with where it came from (request, prompt, genre)."""

import random
from dataclasses import dataclass, replace

from composer.arrange import Structure
from composer.errors import InvalidSongRequest, SongRequestTooLarge
from composer.genres import DEFAULT_GENRE, MODE_VAMPS, BassStyle, Genre, blend
from composer.instruments import DRUM_CHANNEL, ROLES, InstrumentWord, Role
from composer.moods import Mood
from composer.numerals import implied_mode, realise
from composer.prompt import PromptInfo, parse_prompt
from composer.request import MAX_BARS, SongRequest, check_fields
from composer.score import COMMON_TIME, Meter, meter_named
from composer.theory import (
    Chord,
    Key,
    best_key_for,
    diatonic_chord,
    make_key,
    opening_on_the_tonic,
    parse_key,
    pitch_class,
)

TRACK_NAMES: dict[Role, str] = {
    "drums": "Drums", "bass": "Bass", "chords": "Chords", "lead": "Lead", "pad": "Pad", "fx": "FX",
}  # fmt: skip


MAX_PITCHED_TRACKS = 15  # 16 MIDI channels, the tenth the drums'
GROOVE_FORMS: frozenset[str] = frozenset({"beat", "club"})  # genres that live on their groove: drums and bass


@dataclass(frozen=True)
class TrackPlan:
    role: Role
    name: str
    channel: int
    program: int
    asked: bool = False  # the prompt named this instrument: it plays even where the form leaves its role out
    voice: int = 0  # 0: its role's part; 1, 2...: a further instrument in the role, playing a second part of it
    # Where a named instrument in an arrangement of named instruments sounds well: its part moves there by octaves.
    register: tuple[int, int] | None = None


@dataclass(frozen=True)
class SongPlan:
    genre: Genre
    bpm: float
    key: Key
    meter: Meter
    bars: int
    seed: int
    tracks: tuple[TrackPlan, ...]
    progression: tuple[Chord, ...]
    bars_per_chord: int
    structure: Structure | None  # None: the genre's form
    bass_style: BassStyle
    mood: Mood
    sources: dict[str, str]
    unknown_words: tuple[str, ...]

    @property
    def duration_seconds(self) -> float:
        return self.bars * self.meter.quarter_notes * 60.0 / self.bpm

    def track(self, role: Role) -> TrackPlan | None:
        return next((track for track in self.tracks if track.role == role), None)


def plan_song(request: SongRequest) -> SongPlan:
    """Validates the request and decides everything the generators need; raises InvalidSongRequest."""
    check_fields(request)
    info = parse_prompt(request.prompt)
    rng = random.Random(f"plan:{request.seed}")
    sources: dict[str, str] = {}
    genre = _genre(info, sources)
    bpm = _bpm(request, info, genre, sources)
    key = _key(request, info, genre, rng, sources)
    meter = _meter(request, info, genre, sources)
    bars = _bars(request, info, genre, bpm, meter, sources)
    sources["structure"] = "genre default" if info.structure is None else "prompt"
    progression, bars_per_chord = _progression(info, genre, key, rng, sources)
    tracks, bass_style = _tracks(info, genre, sources)
    return SongPlan(
        genre, bpm, key, meter, bars, request.seed, tracks, progression, bars_per_chord, info.structure, bass_style,
        info.mood, sources, info.unknown_words,
    )  # fmt: skip


def _genre(info: PromptInfo, sources: dict[str, str]) -> Genre:
    """The genre named, blended with a second one named; a mood that calls for an instrument (bells for
    "christmas") takes the lead where the prompt names no lead instrument."""
    genre = info.genre or DEFAULT_GENRE
    sources["genre"] = "prompt" if info.genre else "genre default"
    if info.blend is not None:
        genre = blend(genre, info.blend)
        sources["blend"] = "prompt"
    if info.mood.lead is not None and "lead" in genre.instruments:
        genre = replace(genre, instruments={**genre.instruments, "lead": info.mood.lead})
    return genre


def _bpm(request: SongRequest, info: PromptInfo, genre: Genre, sources: dict[str, str]) -> float:
    if request.bpm is not None:
        sources["bpm"] = "request"
        return float(request.bpm)
    if info.bpm is not None:
        sources["bpm"] = "prompt"
        return info.bpm
    slow, fast = genre.slow_fast
    leaning = {-1: slow, 0: genre.bpm, 1: fast}  # the genre's slow, usual and fast tempos
    if info.tempo_word is not None:
        sources["bpm"] = "prompt"
        return info.tempo_word.fit(leaning[info.tempo_word.leaning])
    sources["bpm"] = "genre default"
    return leaning[info.mood.tempo]


def _key(request: SongRequest, info: PromptInfo, genre: Genre, rng: random.Random, sources: dict[str, str]) -> Key:
    if request.key is not None:
        key = parse_key(request.key)
        if key is None:
            raise InvalidSongRequest(
                "key", f"unknown key {request.key!r}; write it like 'F minor', 'Am', 'C#m', 'Bb major' or 'G dorian'"
            )
        sources["key"] = "request"
        return key
    mood_or_genre_mode = implied_mode(info.numerals) or info.mood.mode or genre.mode
    if info.key is not None:
        sources["key"] = "prompt"
        return make_key(info.key.tonic, info.key.mode or mood_or_genre_mode, info.key.accidental)
    if info.chords:
        sources["key"] = "prompt"
        return best_key_for(list(info.chords))
    sources["key"] = "genre default"
    tonic = rng.choice(genre.tonics)
    accidental = tonic[1:]
    return make_key(pitch_class(tonic[0], accidental), mood_or_genre_mode, accidental)


def _meter(request: SongRequest, info: PromptInfo, genre: Genre, sources: dict[str, str]) -> Meter:
    for name, source in ((request.time_signature, "request"), (info.time_signature, "prompt")):
        meter = meter_named(name)
        if meter is not None:  # check_fields refused a request's name that is no meter; the prompt's is one
            sources["time_signature"] = source
            return meter
    sources["time_signature"] = "genre default"
    return meter_named(genre.time_signature) or COMMON_TIME


def _bars(
    request: SongRequest, info: PromptInfo, genre: Genre, bpm: float, meter: Meter, sources: dict[str, str]
) -> int:
    lengths = (
        (request.bars, request.seconds, "request", "seconds"),
        (info.bars, info.seconds, "prompt", "prompt"),
    )
    for bars, seconds, source, field in lengths:
        if bars is not None:
            sources["bars"] = source
            return bars
        if seconds is not None:
            sources["bars"] = source
            bars = max(1, int(seconds * bpm / 60.0 / meter.quarter_notes + 0.5))
            if bars > MAX_BARS:
                raise SongRequestTooLarge(
                    field, f"{seconds} seconds at {bpm} BPM is {bars} bars, more than the limit of {MAX_BARS}"
                )
            return bars
    sources["bars"] = "genre default"
    return genre.default_bars


def _progression(
    info: PromptInfo, genre: Genre, key: Key, rng: random.Random, sources: dict[str, str]
) -> tuple[tuple[Chord, ...], int]:
    if info.chords:
        sources["chord_progression"] = "prompt"
        return info.chords, 1
    if info.numerals:
        sources["chord_progression"] = "prompt"
        return tuple(realise(numeral, key) for numeral in info.numerals), 1
    sources["chord_progression"] = "genre default"
    if key.mode in MODE_VAMPS:
        choices = MODE_VAMPS[key.mode]
    else:
        choices = genre.minor_progressions if key.minor_like else genre.major_progressions
    degrees = opening_on_the_tonic(rng.choice(choices))
    return tuple(diatonic_chord(key, degree, genre.chord_size) for degree in degrees), genre.bars_per_chord


def _tracks(info: PromptInfo, genre: Genre, sources: dict[str, str]) -> tuple[tuple[TrackPlan, ...], BassStyle]:
    named = _named_instruments(info)
    if len(named) > MAX_PITCHED_TRACKS:
        raise InvalidSongRequest(
            "prompt",
            f"the prompt names {len(named)} instruments; a song plays at most {MAX_PITCHED_TRACKS} besides the drums "
            "(16 MIDI channels, one of them the drums')",
        )
    arranging = sum(not word.texture for _, word in named) >= 2
    slots = _named_slots(info, genre, named) if arranging else _genre_slots(info, genre)
    slots = [slot for slot in slots if slot.role not in info.excluded]
    if not slots:
        raise InvalidSongRequest("prompt", "the prompt leaves no instrument to play")
    sources["instruments"] = "prompt" if any(slot.asked and slot.role != "drums" for slot in slots) else "genre default"
    bass_word = next((slot.word for slot in slots if slot.role == "bass" and slot.voice == 0), None)
    bass_style: BassStyle = genre.bass
    if bass_word is not None and bass_word.is_808:
        bass_style = "808"
    elif bass_word is not None and bass_word.wobble:
        bass_style = "wobble"
    melodic = iter(channel for channel in range(16) if channel != DRUM_CHANNEL)
    tracks = []
    for slot in sorted(slots, key=lambda slot: (ROLES.index(slot.role), slot.voice)):
        name = "808" if slot.role == "bass" and bass_style == "808" else TRACK_NAMES[slot.role]
        name = f"{name} {slot.voice + 1}" if slot.voice else name
        channel = DRUM_CHANNEL if slot.role == "drums" else next(melodic)
        home = slot.register if arranging else None
        tracks.append(TrackPlan(slot.role, name, channel, slot.program, slot.asked, slot.voice, home))
    return tuple(tracks), bass_style


@dataclass(frozen=True)
class _Slot:
    """A track before it has a name and a channel."""

    role: Role
    program: int
    asked: bool
    voice: int = 0
    word: InstrumentWord | None = None
    register: tuple[int, int] | None = None  # a named instrument's


def _named_instruments(info: PromptInfo) -> list[tuple[int, InstrumentWord]]:
    """The pitched instruments the prompt names by a program, each program once, in the prompt's order."""
    by_program: dict[int, InstrumentWord] = {}
    for word in info.instruments:
        if word.program is not None and word.roles != ("drums",):
            by_program.setdefault(word.program, word)
    return list(by_program.items())


def _drum_program(info: PromptInfo, genre: Genre) -> int:
    """The kit a prompt names ("brush drums", "808 kit"), else the genre's."""
    kits = (word.program for word in info.instruments if word.roles == ("drums",) and word.program is not None)
    return next(kits, _genre_program(genre, "drums"))


def _genre_slots(info: PromptInfo, genre: Genre) -> list[_Slot]:
    """The genre's instruments, a named one (or a role asked for by a plain word: "bass") in its role."""
    programs: dict[Role, int] = dict(genre.instruments)
    asked: dict[Role, InstrumentWord] = {}
    for word in info.instruments:
        if word.roles == ("drums",):  # named drums play, in the kit named or the genre's
            programs["drums"] = _drum_program(info, genre)
            continue
        role = next((role for role in word.roles if role not in asked), None)
        if role is None:
            continue
        asked[role] = word
        programs[role] = word.program if word.program is not None else _genre_program(genre, role)
    slots = [_Slot(role, program, role in asked, word=asked.get(role)) for role, program in programs.items()]
    # Every sound effect named sounds, as far as the channels go.
    placed = {word.program for word in asked.values()}
    effects = {word.program: word for word in info.instruments if word.roles == ("fx",) and word.program is not None}
    free_channels = MAX_PITCHED_TRACKS - sum(slot.role != "drums" for slot in slots)
    extra = [(program, word) for program, word in effects.items() if program not in placed][:free_channels]
    slots += [_Slot("fx", program, True, voice, word) for voice, (program, word) in enumerate(extra, start=1)]
    return slots


def _named_slots(info: PromptInfo, genre: Genre, named: list[tuple[int, InstrumentWord]]) -> list[_Slot]:
    """The named instruments are the arrangement. Each takes the first of its roles no instrument before it took;
    one whose roles are all taken plays a further part of its best role (a counter-line, a harmony, an arpeggio,
    a doubling). Drums join where the song needs them, the genre's bass where nothing named can play one."""
    # Plain words ("melody", "bass") and drums of any kit.
    wanted = {word.roles[0] for word in info.instruments if word.program is None or word.roles == ("drums",)}
    taken: set[Role] = set()
    slots = []
    for program, word in named:
        roles = [role for role in word.roles if role not in info.excluded]
        if not roles:
            continue
        role = next((role for role in roles if role not in taken), roles[0])
        taken.add(role)
        slots.append(_Slot(role, program, True, word=word, register=word.register))
    if "lead" in wanted and "lead" not in taken and "lead" not in info.excluded:
        # "piano playing the melody, with strings": the first named instrument that can carry a melody does.
        singer = next((index for index, slot in enumerate(slots) if slot.word and "lead" in slot.word.roles), None)
        if singer is not None:
            slots[singer] = replace(slots[singer], role="lead")
    slots = _numbered(slots)
    grooving = info.genre is not None and info.genre.form in GROOVE_FORMS
    if "drums" in wanted or info.beat or grooving:
        slots.append(_Slot("drums", _drum_program(info, genre), "drums" in wanted))
    room = sum(slot.role != "drums" for slot in slots) < MAX_PITCHED_TRACKS
    if ("bass" in wanted or grooving) and not any(slot.role == "bass" for slot in slots) and room:
        slots.append(_Slot("bass", _genre_program(genre, "bass"), "bass" in wanted))
    return slots


def _numbered(slots: list[_Slot]) -> list[_Slot]:
    """Each role's instruments numbered in the prompt's order, except that of several named basses the lowest
    plays the bass line and the others double it above: a contrabass under a cello, whichever came first."""
    order = {slot.program: index for index, slot in enumerate(slots)}
    voices: dict[int, int] = {}
    for role in ROLES:
        in_role = [slot.program for slot in slots if slot.role == role]
        if role == "bass":
            lowest = {slot.program: (slot.register or (0, 0))[0] for slot in slots}
            in_role.sort(key=lambda program: (lowest[program], order[program]))
        voices |= {program: voice for voice, program in enumerate(in_role)}
    return [replace(slot, voice=voices[slot.program]) for slot in slots]


def _genre_program(genre: Genre, role: Role) -> int:
    return genre.instruments.get(role, DEFAULT_GENRE.instruments.get(role, genre.instruments.get("pad", 89)))
