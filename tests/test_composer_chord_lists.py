"""Chord progressions written as lists in captions ("the main chord progression is A, E7, A7, D"): the harmony the
song loops, the MIDI read back; the article "A", key names and section letters are no chords."""

import io
from functools import cache

import mido
import pytest

import composer
from composer.prompt import parse_prompt
from composer.theory import parse_chord_symbol

DRIFT = 12  # the most any genre humanises a note, in ticks
# The words captions put around a list; none of them may be left unknown.
LEAD_IN_WORDS = {"main", "chord", "chords", "progression", "sequence", "follows", "harmonic", "revolves", "around",
                 "centers", "on", "is", "of", "goes", "and", "song's", "features"}  # fmt: skip


@cache
def song(prompt: str, bars: int | None = None, seed: int = 0) -> composer.ComposedSong:
    return composer.compose(composer.SongRequest(prompt, bars=bars, seed=seed))


def chords_by_bar(data: bytes, bar_ticks: int) -> dict[int, set[int]]:
    """Bar -> pitch classes the Chords track starts in it."""
    midi = mido.MidiFile(file=io.BytesIO(data))
    track = next(track for track in midi.tracks if any(m.type == "track_name" and m.name == "Chords" for m in track))
    by_bar: dict[int, set[int]] = {}
    now = 0
    for message in track:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            by_bar.setdefault((now + DRIFT) // bar_ticks, set()).add(message.note % 12)
    return by_bar


def tones(symbol: str) -> set[int]:
    chord = parse_chord_symbol(symbol)
    assert chord is not None, symbol
    return set(chord.tones)


@pytest.mark.parametrize(
    ("prompt", "chords"),
    [
        (
            "A melodic electronic song with synth pad, synth lead, electric bass, piano and drums. It is set in F "
            "minor with a 4/4 time signature and moves at a Moderato tempo. The mood is dark and meditative, and the "
            "main chord progression is Fm, Db, Ab, Eb.",
            ["Fm", "Db", "Ab", "Eb"],
        ),
        ("A country song with banjo and fiddle; the main chord progression is A, E7, A7, D.", ["A", "E7", "A7", "D"]),
        (
            "A short jazz piece with piano, acoustic bass and drums in Bb major. The chord sequence follows Cm7, F7, "
            "Bbmaj7.",
            ["Cm7", "F7", "Bbmaj7"],
        ),
        ("A pop song, Am - F - C - G", ["Am", "F", "C", "G"]),
        ("A sad ballad with chords of Am, F, C and G", ["Am", "F", "C", "G"]),
        ("A sad ballad with chords of Am, F, C, and G.", ["Am", "F", "C", "G"]),
        ("A rock song: C | G | Am | F", ["C", "G", "Am", "F"]),
        ("The harmonic progression revolves around Cm, Ab, Cm, Gm.", ["Cm", "Ab", "Cm", "Gm"]),
        ("The song's chord sequence features D, A, D, A.", ["D", "A", "D", "A"]),
        ("The chord progression centers on Am, Dm, E.", ["Am", "Dm", "E"]),
        ("A folk song in G; the progression goes G - D - Em - C", ["G", "D", "Em", "C"]),
        ("The main chord progression is B\u266d, Gm, E\u266d, F.", ["Bb", "Gm", "Eb", "F"]),
        (
            "Gm, Ab6, C7, F#m7, Bbmaj7, Bm7b5, Edim, Caug, Dsus4, E7/G#",
            ["Gm", "Ab6", "C7", "F#m7", "Bbmaj7", "Bm7b5", "Edim", "Caug", "Dsus4", "E7/G#"],
        ),
    ],
)
def test_a_chord_list_is_the_progression(prompt: str, chords: list[str]) -> None:
    meta = song(prompt).metadata
    assert meta.chord_progression == chords
    assert meta.sources["chord_progression"] == "prompt"
    assert not LEAD_IN_WORDS & set(meta.unknown_words)
    assert not {symbol.lower() for symbol in chords} & set(meta.unknown_words)


@pytest.mark.parametrize(
    ("prompt", "key", "chords"),
    [
        ("A jazz piece in Bb major, ii-V-I", "Bb major", ["Cm", "F", "Bb"]),
        ("A blues in E, I-IV-V", "E major", ["E", "A", "B"]),
        ("A dark piece in D minor; the progression is i - iv - v", "D minor", ["Dm", "Gm", "Am"]),
    ],
)
def test_roman_numeral_lists_are_the_progression_in_the_key(prompt: str, key: str, chords: list[str]) -> None:
    meta = song(prompt).metadata
    assert (meta.key, meta.chord_progression) == (key, chords)
    assert meta.sources["chord_progression"] == "prompt"
    assert not LEAD_IN_WORDS & set(meta.unknown_words)


@pytest.mark.parametrize(
    "prompt",
    [
        "A melodic pop song in A minor with piano. A short intro opens it.",
        "A short jazz piece in Bb major with piano",
        "A calm piece, set in A major, with a 3/4 time signature",
        "A pop song in E minor and a fast tempo",
        "A song with A and B sections",
        "A pop song in an A B A form",
        "A trap beat that stays on Am",
    ],
)
def test_the_article_key_names_section_letters_and_a_lone_chord_are_no_progression(prompt: str) -> None:
    assert song(prompt).metadata.sources["chord_progression"] == "genre default"


def test_the_list_is_what_the_chords_play_looped_in_every_section() -> None:
    result = song("A pop song with piano in 6/8; the main chord progression is A, E7, A7, D.", bars=24)
    meta = result.metadata
    assert meta.time_signature == "6/8"
    progression = [tones(symbol) for symbol in meta.chord_progression]
    played = chords_by_bar(result.midi, 12 * 120)
    heard = 0
    for section in meta.sections:
        for bar in range(section.bars):
            if section.start_bar + bar in played:
                assert played[section.start_bar + bar] == progression[bar % len(progression)], (section.name, bar)
                heard += 1
    assert heard >= 12


def test_the_first_list_wins_and_the_rest_of_the_caption_is_still_read() -> None:
    info = parse_prompt("Am, F, C and G in the verse; the chorus moves to F, G, C. It is in 7/8 at 100 bpm.")
    assert [chord.symbol for chord in info.chords] == ["Am", "F", "C", "G"]
    assert (info.time_signature, info.bpm) == ("7/8", 100.0)


def test_a_chord_list_composes_the_same_song_every_time() -> None:
    prompt = "A reggae song in G major; the chord progression is G, C, D, C."
    first = composer.compose(composer.SongRequest(prompt, seed=4))
    assert first.midi == composer.compose(composer.SongRequest(prompt, seed=4)).midi
    assert first.metadata.chord_progression == ["G", "C", "D", "C"]
