"""Genres, blends and moods: every genre word read, every genre composed (MIDI read back with mido), its groove,
harmony and instruments; two genres named blend; mood words shape mode, register, density and dynamics."""

import io
import itertools
from collections import Counter
from dataclasses import dataclass
from functools import cache
from statistics import mean

import mido
import pytest

import composer
from composer.genres import EXAMPLE_PROMPTS, GENRES, GENRES_BY_NAME, WEAK_PHRASES
from composer.moods import MOODS
from composer.prompt import parse_prompt
from composer.theory import parse_chord_symbol

TPB = 480
SIXTEENTH = TPB // 4
KICK, RIM, SNARE, CLOSED_HAT = 36, 37, 38, 42
DRIFT = 12  # the most any genre humanises a note, in ticks
NEW_GENRES = [
    "electronic", "classical", "soundtrack", "rock", "metal", "jazz", "blues", "country", "folk", "reggae", "funk",
    "r&b", "soul", "disco", "trance", "latin", "bossa nova", "waltz", "march",
]  # fmt: skip


@dataclass(frozen=True)
class Note:
    start: int
    end: int
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Parsed:
    notes: dict[str, list[Note]]  # by track name
    ends: list[int]  # every track's end tick, the conductor's first
    overlaps: int  # notes struck again on their pitch while still sounding
    time_signature: tuple[int, int]

    @property
    def bar_ticks(self) -> int:
        numerator, denominator = self.time_signature
        return numerator * 4 * TPB // denominator

    def played(self, name: str) -> list[Note]:
        """The track's notes without the tonic pedal a song may hold under its chords (composer.keyfinding): the
        notes shorter than a bar."""
        return [note for note in self.notes[name] if note.end - note.start < self.bar_ticks - 8]

    def pitched(self) -> list[Note]:
        return [note for name, notes in self.notes.items() if name != "Drums" for note in notes]


def parse(data: bytes) -> Parsed:
    midi = mido.MidiFile(file=io.BytesIO(data))
    notes: dict[str, list[Note]] = {}
    ends: list[int] = []
    overlaps = 0
    time_signature = (4, 4)
    for index, track in enumerate(midi.tracks):
        now, name = 0, ""
        sounding: dict[int, tuple[int, int]] = {}
        found: list[Note] = []
        for message in track:
            now += message.time
            if message.type == "time_signature":
                time_signature = (message.numerator, message.denominator)
            elif message.type == "track_name":
                name = message.name
            elif message.type == "note_on" and message.velocity > 0:
                overlaps += message.note in sounding
                sounding[message.note] = (now, message.velocity)
            elif message.type in ("note_on", "note_off"):
                start, velocity = sounding.pop(message.note)
                found.append(Note(start, now, message.note, velocity))
        ends.append(now)
        if index:
            notes[name] = sorted(found, key=lambda note: (note.start, note.pitch))
    return Parsed(notes, ends, overlaps, time_signature)


@cache
def song(prompt: str, seed: int = 0, **fields: object) -> tuple[composer.SongMetadata, Parsed]:
    result = composer.compose(composer.SongRequest(prompt, seed=seed, **fields))  # type: ignore[arg-type]
    return result.metadata, parse(result.midi)


def groove_bars(meta: composer.SongMetadata) -> set[int]:
    """Bars of the main groove (verses and choruses), leaving out each phrase's last bar where the fills are."""
    return {
        section.start_bar + bar
        for section in meta.sections
        if section.name in ("verse", "chorus", "drop")
        for bar in range(section.bars)
        if bar % 4 != 3
    }


def steps(notes: list[Note], bars: set[int], bar_ticks: int = 4 * TPB) -> Counter[int]:
    """How often each sixteenth step of the bar starts one of these notes, in these bars."""
    return Counter(
        round((note.start % bar_ticks) / SIXTEENTH) % (bar_ticks // SIXTEENTH)
        for note in notes
        if (note.start + DRIFT) // bar_ticks in bars
    )


@pytest.mark.parametrize(("phrase", "genre"), [(p, g.name) for g in GENRES for p in g.phrases])
def test_every_genre_word_reads_as_its_genre(phrase: str, genre: str) -> None:
    for prompt in (phrase, f"A {phrase} piece with drums in A minor", phrase.upper()):
        info = parse_prompt(prompt)
        assert info.genre is not None, prompt
        assert (info.genre.name, info.blend) == (genre, None), prompt
        assert not info.unknown_words, prompt


# MTG-Jamendo genre tags as captions write them (some run together: "bossanova", "drumnbass"), and the genre each
# reads as.
MTG_GENRES = {
    "acidjazz": "jazz", "alternative": "rock", "alternativerock": "rock", "ambient": "ambient",
    "atmospheric": "ambient", "blues": "blues", "bluesrock": "blues", "bossanova": "bossa nova", "celtic": "folk",
    "chanson": "folk", "chillout": "lo-fi hip-hop", "classical": "classical", "classicrock": "rock",
    "country": "country", "darkambient": "ambient", "darkwave": "electronic", "deephouse": "house", "disco": "disco",
    "downtempo": "lo-fi hip-hop", "drumnbass": "drum and bass", "dub": "reggae", "dubstep": "dubstep",
    "easylistening": "pop", "edm": "electronic", "electronic": "electronic", "electronica": "electronic",
    "electropop": "pop", "ethno": "folk", "eurodance": "house", "experimental": "electronic", "folk": "folk",
    "funk": "funk", "fusion": "jazz", "grunge": "rock", "hardrock": "rock", "hiphop": "boom bap", "house": "house",
    "idm": "electronic", "improvisation": "jazz", "indie": "rock", "industrial": "techno",
    "instrumentalpop": "pop", "instrumentalrock": "rock", "jazz": "jazz", "jazzfusion": "jazz", "latin": "latin",
    "lounge": "jazz", "medieval": "folk", "metal": "metal", "newage": "ambient", "newwave": "pop",
    "orchestral": "classical", "pop": "pop", "popfolk": "folk", "poprock": "rock", "postrock": "rock",
    "progressive": "rock", "psychedelic": "rock", "punkrock": "rock", "rap": "boom bap", "reggae": "reggae",
    "rnb": "r&b", "rock": "rock", "rocknroll": "rock", "singersongwriter": "folk", "soul": "soul",
    "soundtrack": "soundtrack", "swing": "jazz", "symphonic": "classical", "synthpop": "pop", "techno": "techno",
    "trance": "trance", "triphop": "lo-fi hip-hop", "world": "folk", "worldfusion": "folk",
}  # fmt: skip


@pytest.mark.parametrize(("tag", "genre"), sorted(MTG_GENRES.items()))
def test_every_mtg_jamendo_genre_tag_names_a_genre(tag: str, genre: str) -> None:
    meta, _ = song(f"A {tag} song with piano in C major")
    assert meta.genre == genre
    assert meta.unknown_words == []


@pytest.mark.parametrize(("phrase", "genre"), sorted(WEAK_PHRASES.items()))
def test_a_weak_word_names_its_genre_only_alone(phrase: str, genre: str) -> None:
    alone = parse_prompt(f"music for a {phrase}")
    assert alone.genre is not None
    assert alone.genre.name == genre
    assert not alone.unknown_words
    with_other = parse_prompt(f"a house track, {phrase}")
    assert with_other.genre is not None
    assert with_other.genre.name == "house"
    assert with_other.blend is None
    assert not with_other.unknown_words


@pytest.mark.parametrize(
    ("prompt", "genre", "program"),
    [
        ("boom bap 90 with jazz piano", "boom bap", 0),  # an instrument's style, not a second genre
        ("a classical guitar piece", "classical", 24),  # a genre word inside an instrument's name
        ("trap with a rock organ", "trap", 18),
        ("house with a jazz guitar", "house", 26),
        ("a jazz guitar piece", "jazz", 26),  # alone, the word still names the genre
    ],
)
def test_a_genre_word_that_describes_an_instrument_leaves_it_whole(prompt: str, genre: str, program: int) -> None:
    meta, _ = song(prompt)
    assert meta.genre == genre
    assert program in {track.program for track in meta.tracks}
    assert not meta.unknown_words


@pytest.mark.parametrize("genre", NEW_GENRES)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_genre_composes_in_its_meter_in_the_key_with_exact_bars(genre: str, seed: int) -> None:
    meta, parsed = song(genre, seed)
    style = GENRES_BY_NAME[genre]
    assert meta.genre == genre
    assert meta.time_signature == style.time_signature
    assert parsed.time_signature == tuple(map(int, style.time_signature.split("/")))
    assert set(parsed.ends) == {meta.bars * parsed.bar_ticks}
    assert sum(section.bars for section in meta.sections) == meta.bars
    assert parsed.overlaps == 0
    assert all(0 <= note.start < note.end <= parsed.ends[0] for notes in parsed.notes.values() for note in notes)
    scale = set(meta.scale_pitch_classes)
    pitched = parsed.pitched()
    assert sum(note.pitch % 12 in scale for note in pitched) / len(pitched) >= 0.98
    assert ("Drums" in parsed.notes) == ("drums" in style.instruments)
    assert all(track.note_count > 0 for track in meta.tracks)
    assert meta.bpm == style.bpm
    assert meta.unknown_words == []


def test_waltz_and_march_carry_their_meter_and_a_named_meter_wins() -> None:
    assert song("a waltz")[0].time_signature == "3/4"
    assert song("a march")[0].time_signature == "2/4"
    assert song("a march in 3/4")[0].time_signature == "3/4"
    assert song("a waltz", time_signature="4/4")[0].time_signature == "4/4"
    _, parsed = song("a march", bars=8)
    bass = parsed.notes["Bass"]
    assert set(steps(bass, set(range(8)), parsed.bar_ticks)) <= {0, 4}  # root and fifth on the march's two beats


@pytest.mark.parametrize("genre", NEW_GENRES)
@pytest.mark.parametrize("meter", ["2/4", "3/4", "6/8", "7/8"])
def test_every_genre_plays_in_other_meters(genre: str, meter: str) -> None:
    meta, parsed = song(genre, 3, time_signature=meter, bars=10)
    assert meta.time_signature == meter
    assert set(parsed.ends) == {10 * parsed.bar_ticks}
    assert parsed.overlaps == 0
    scale = set(meta.scale_pitch_classes)
    assert sum(note.pitch % 12 in scale for note in parsed.pitched()) / len(parsed.pitched()) >= 0.98


@pytest.mark.parametrize(
    ("genre", "programs"),
    [
        ("rock", {"Chords": 29, "Lead": 30}),
        ("metal", {"Chords": 30, "Drums": 16}),
        ("jazz", {"Drums": 32, "Bass": 32, "Chords": 0, "Lead": 66}),
        ("country", {"Chords": 25, "Lead": 110}),
        ("classical", {"Bass": 42, "Chords": 0, "Lead": 40, "Pad": 48}),
        ("soundtrack", {"Bass": 43, "Chords": 48, "Lead": 60, "Pad": 52}),
        ("reggae", {"Chords": 16}),
        ("bossa nova", {"Chords": 24, "Lead": 73}),
        ("march", {"Bass": 58, "Chords": 61}),
    ],
)
def test_each_genre_plays_its_instruments(genre: str, programs: dict[str, int]) -> None:
    meta, _ = song(genre)
    by_name = {track.name: track.program for track in meta.tracks}
    assert {name: by_name.get(name) for name in programs} == programs


def test_classical_has_no_drums_and_breaks_its_chords_into_arpeggios() -> None:
    _, parsed = song("classical", bars=16)
    assert "Drums" not in parsed.notes
    chords = parsed.played("Chords")
    assert max(Counter(round(note.start / SIXTEENTH) for note in chords).values()) == 1  # one note at a time
    assert len({note.pitch for note in chords}) >= 4


def test_reggae_one_drop_and_offbeat_skank() -> None:
    meta, parsed = song("reggae", bars=16)
    bars = groove_bars(meta)
    drums = parsed.notes["Drums"]
    assert set(steps([n for n in drums if n.pitch == KICK], bars)) == {8}  # the kick drops on beat three only
    assert set(steps([n for n in drums if n.pitch == RIM], bars)) == {8}
    skank = steps(parsed.notes["Chords"], bars)
    assert skank
    assert not {0, 8} & set(skank), "the chords chop the offbeats or the backbeat, never one or three"


def test_disco_and_trance_keep_four_on_the_floor_and_disco_bass_jumps_octaves() -> None:
    for genre in ("disco", "trance"):
        meta, parsed = song(genre, bars=16)
        kicks = steps([n for n in parsed.notes["Drums"] if n.pitch == KICK], groove_bars(meta))
        assert set(kicks) == {0, 4, 8, 12}, genre
    meta, parsed = song("disco", bars=16)
    bass = parsed.notes["Bass"]
    intervals = Counter(abs(b.pitch - a.pitch) for a, b in itertools.pairwise(bass))
    assert intervals.most_common(1)[0][0] == 12


def test_rock_plays_power_chords_in_eighths() -> None:
    meta, parsed = song("rock", bars=16)
    chords = parsed.played("Chords")
    by_start: dict[int, list[int]] = {}
    for note in chords:
        by_start.setdefault(round(note.start / SIXTEENTH), []).append(note.pitch)
    shapes = {tuple(p - min(pitches) for p in sorted(pitches)) for pitches in by_start.values()}
    assert shapes <= {(0, 7, 12), (0, 6, 12)}  # root, fifth (diminished on the leading tone) and octave
    assert set(steps(chords, groove_bars(meta))) >= {0, 2, 4, 6}


def test_country_bass_plays_root_and_fifth_on_one_and_three() -> None:
    meta, parsed = song("country", bars=16)
    progression = [parse_chord_symbol(symbol) for symbol in meta.chord_progression]
    bass = [n for n in parsed.notes["Bass"] if (n.start + DRIFT) // (4 * TPB) in groove_bars(meta)]
    assert set(steps(bass, groove_bars(meta))) == {0, 8}
    downbeats = [n for n in bass if n.start % (4 * TPB) < DRIFT]
    roots = {chord.root for chord in progression if chord is not None}
    assert {n.pitch % 12 for n in downbeats} <= roots


@pytest.mark.parametrize("genre", ["jazz", "blues", "r&b", "bossa nova"])
def test_jazz_family_harmony_uses_sevenths(genre: str) -> None:
    for seed in range(4):
        meta, _ = song(genre, seed)
        for symbol in meta.chord_progression:
            chord = parse_chord_symbol(symbol)
            assert chord is not None
            assert len(chord.tones) >= 4, (genre, symbol)


def test_each_genre_has_its_own_progressions() -> None:
    blues = [song("blues", seed)[0].chord_progression for seed in range(8)]
    assert any(len(p) == 12 for p in blues), "a twelve-bar blues"
    in_a_minor = {tuple(song("trance in A minor", seed)[0].chord_progression) for seed in range(12)}
    assert ("Am", "F", "C", "G") in in_a_minor  # i-VI-III-VII
    jazz = [song("jazz in C", seed)[0].chord_progression for seed in range(8)]
    assert any(a.startswith("Dm") and b.startswith("G") for p in jazz for a, b in itertools.pairwise(p)), "ii-V"


@pytest.mark.parametrize(
    ("prompt", "title", "groove_from", "chords_program"),
    [
        ("electronic and ambient", "electronic + ambient", "electronic", 88),
        ("An electronic song with ambient elements", "electronic + ambient", "electronic", 88),
        ("classical, soundtrack", "classical + soundtrack", "classical", 48),
        ("pop rock", "pop + rock", "pop", 29),
        ("jazz funk", "jazz + funk", "jazz", 28),
    ],
)
def test_two_genres_named_blend(prompt: str, title: str, groove_from: str, chords_program: int) -> None:
    meta, _ = song(prompt)
    lead, colour = (GENRES_BY_NAME[name] for name in title.split(" + "))
    assert meta.genre == title
    assert meta.sources["genre"] == meta.sources["blend"] == "prompt"
    assert min(lead.bpm, colour.bpm) <= meta.bpm <= max(lead.bpm, colour.bpm)
    assert meta.time_signature == lead.time_signature
    assert next(t.program for t in meta.tracks if t.name == "Chords") == chords_program
    alone, _ = song(groove_from)
    assert [s.name for s in meta.sections] == [s.name for s in alone.sections]  # the first genre's form
    assert meta.unknown_words == []
    again = composer.compose(composer.SongRequest(prompt)).midi
    assert again == composer.compose(composer.SongRequest(prompt)).midi


def test_a_blend_takes_the_colour_s_meter_where_the_lead_has_plain_common_time() -> None:
    assert song("a jazz march")[0].time_signature == "2/4"
    assert song("a rock waltz")[0].time_signature == "3/4"
    assert song("a march with a jazz feel")[0].time_signature == "2/4"
    assert song("a jazz march in 4/4")[0].time_signature == "4/4"


def test_a_single_genre_keeps_its_plain_name() -> None:
    for genre in ("house", "trap", "lo-fi hip-hop", "jazz"):
        meta, _ = song(EXAMPLE_PROMPTS[genre])
        assert meta.genre == genre
        assert "blend" not in meta.sources


@pytest.mark.parametrize("word", sorted(MOODS))
def test_every_mood_word_is_understood(word: str) -> None:
    info = parse_prompt(f"a pop song, {word}")
    assert info.unknown_words == ()
    assert info.genre is not None
    assert info.genre.name == "pop"


# The MTG-Jamendo mood/theme tags MidiCaps' captions are written from.
MTG_MOODS = (
    "action", "adventure", "advertising", "background", "ballad", "calm", "children", "christmas", "commercial",
    "cool", "corporate", "dark", "deep", "documentary", "drama", "dramatic", "dream", "emotional", "energetic", "epic",
    "fast", "film", "fun", "funny", "game", "groovy", "happy", "heavy", "holiday", "hopeful", "inspiring", "love",
    "meditative", "melancholic", "melodic", "motivational", "movie", "nature", "party", "positive", "powerful",
    "relaxing", "retro", "romantic", "sad", "sexy", "slow", "soft", "soundscape", "space", "sport", "summer", "trailer",
    "travel", "upbeat", "uplifting",
)  # fmt: skip


def test_every_mtg_mood_and_theme_tag_is_understood() -> None:
    for word in (*MTG_MOODS, "mysterious"):
        assert parse_prompt(f"An electronic song. The atmosphere is {word}.").unknown_words == (), word


def lead_pitch(prompt: str) -> float:
    return mean(note.pitch for seed in range(3) for note in song(prompt, seed, bars=16)[1].notes["Lead"])


def velocity(prompt: str) -> float:
    return mean(note.velocity for seed in range(3) for n in song(prompt, seed, bars=16)[1].notes.values() for note in n)


def lead_notes(prompt: str) -> int:
    return sum(len(song(prompt, seed, bars=16)[1].notes["Lead"]) for seed in range(3))


@pytest.mark.parametrize("genre", ["pop", "rock", "electronic", "jazz"])
def test_moods_set_the_mode_where_the_prompt_gives_none(genre: str) -> None:
    for word in ("sad", "dark", "mysterious", "dramatic", "melancholic"):
        assert song(f"{word} {genre}")[0].key.endswith(" minor"), word
    for word in ("happy", "christmas", "corporate", "uplifting", "motivational"):
        assert song(f"{word} {genre}")[0].key.endswith(" major"), word
    assert song(f"sad {genre} in C major")[0].key == "C major"  # a mode the prompt names wins
    assert song(f"happy {genre}", key="A minor")[0].key == "A minor"


def test_calm_is_softer_sparser_than_energetic() -> None:
    for genre in ("pop", "electronic", "rock"):
        calm, energetic = f"calm {genre}", f"energetic {genre}"
        assert velocity(calm) < velocity(genre) < velocity(energetic), genre
        assert lead_notes(calm) < lead_notes(energetic), genre
        assert velocity(f"relaxing meditative {genre}") < velocity(genre), genre


def test_dark_and_epic_sit_lower_bright_and_happy_higher() -> None:
    for genre in ("pop", "soundtrack"):
        for low in ("dark", "epic", "dramatic", "trailer"):
            assert lead_pitch(f"{low} {genre}") < lead_pitch(genre), (low, genre)
        for high in ("happy", "bright", "christmas"):
            assert lead_pitch(f"{high} {genre}") > lead_pitch(genre), (high, genre)
    assert velocity("epic pop") > velocity("pop")


def test_christmas_rings_bells_and_moods_nudge_the_tempo() -> None:
    meta, _ = song("christmas pop")
    assert next(t.program for t in meta.tracks if t.name == "Lead") == 9
    assert song("relaxing rock")[0].bpm < song("rock")[0].bpm < song("energetic rock")[0].bpm
    named = song("christmas pop with a flute")[0]
    assert next(t.program for t in named.tracks if t.name == "Lead") == 73  # an instrument the prompt names wins


def test_same_seed_same_bytes_for_new_genres_and_moods() -> None:
    for prompt in ("jazz", "reggae", "classical, soundtrack", "dark epic soundtrack", "a calm waltz"):
        request = composer.SongRequest(prompt, seed=11, bars=12)
        assert composer.compose(request).midi == composer.compose(request).midi
        other = composer.compose(composer.SongRequest(prompt, seed=12, bars=12)).midi
        assert other != composer.compose(request).midi


@pytest.mark.parametrize("genre", list(EXAMPLE_PROMPTS))
def test_every_example_prompt_reads_as_its_genre(genre: str) -> None:
    meta, parsed = song(EXAMPLE_PROMPTS[genre])
    assert meta.genre == genre
    assert parsed.overlaps == 0
