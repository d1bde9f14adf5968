"""Resolves a request into a song plan: every value chosen, with where it came from (request, prompt, genre)."""

import random
from dataclasses import dataclass

from composer.arrange import Structure
from composer.errors import InvalidSongRequest, SongRequestTooLarge
from composer.genres import DEFAULT_GENRE, MODE_VAMPS, BassStyle, Genre
from composer.instruments import DRUM_CHANNEL, ROLES, InstrumentWord, Role
from composer.numerals import implied_mode, realise
from composer.prompt import Mood, PromptInfo, parse_prompt
from composer.request import MAX_BARS, SongRequest, check_fields
from composer.score import METERS, Meter
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


@dataclass(frozen=True)
class TrackPlan:
    role: Role
    name: str
    channel: int
    program: int
    asked: bool = False  # the prompt named this instrument: the track stays even where the arrangement leaves it out


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
    genre = info.genre or DEFAULT_GENRE
    sources["genre"] = "prompt" if info.genre else "genre default"
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


def _bpm(request: SongRequest, info: PromptInfo, genre: Genre, sources: dict[str, str]) -> float:
    if request.bpm is not None:
        sources["bpm"] = "request"
        return float(request.bpm)
    if info.bpm is not None:
        sources["bpm"] = "prompt"
        return info.bpm
    sources["bpm"] = "genre default"
    slow, fast = genre.slow_fast
    return {-1: slow, 0: genre.bpm, 1: fast}[info.mood.tempo]


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
        if name is not None:
            sources["time_signature"] = source
            return METERS[name]
    sources["time_signature"] = "genre default"
    return METERS[genre.time_signature]


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
    programs: dict[Role, int] = dict(genre.instruments)
    asked: dict[Role, InstrumentWord] = {}
    for word in info.instruments:
        role = next((role for role in word.roles if role not in asked), None)
        if role is None:
            continue
        asked[role] = word
        default = programs.get(role, DEFAULT_GENRE.instruments.get(role, genre.instruments.get("pad", 89)))
        programs[role] = word.program if word.program is not None else default
    for role in info.excluded:
        programs.pop(role, None)
    if not programs:
        raise InvalidSongRequest("prompt", "the prompt leaves no instrument to play")
    sources["instruments"] = "prompt" if asked else "genre default"
    bass_word = asked.get("bass")
    bass_style: BassStyle = genre.bass
    if bass_word is not None and bass_word.is_808:
        bass_style = "808"
    elif bass_word is not None and bass_word.wobble:
        bass_style = "wobble"
    melodic = iter(channel for channel in range(16) if channel != DRUM_CHANNEL)
    tracks = []
    for role in ROLES:
        if role not in programs:
            continue
        name = "808" if role == "bass" and bass_style == "808" else TRACK_NAMES[role]
        channel = DRUM_CHANNEL if role == "drums" else next(melodic)
        tracks.append(TrackPlan(role, name, channel, programs[role], asked=role in asked))
    return tuple(tracks), bass_style
