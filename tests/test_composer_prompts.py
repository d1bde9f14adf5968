"""Prompt words that shape harmony and form: Roman-numeral progressions and section names, the MIDI read back."""

import io
from dataclasses import dataclass
from functools import cache

import mido
import pytest

import composer
from composer.theory import parse_chord_symbol

TPB = 480
BAR = 4 * TPB
DRIFT = 12  # the most any genre humanises a note, in ticks


@dataclass(frozen=True)
class Parsed:
    markers: list[tuple[int, str]]
    pitches_by_bar: dict[str, dict[int, set[int]]]  # track name -> bar -> pitch classes of notes starting there
    ends: list[int]  # every track's end tick, the conductor's first


def parse(data: bytes) -> Parsed:
    midi = mido.MidiFile(file=io.BytesIO(data))
    markers: list[tuple[int, str]] = []
    pitches: dict[str, dict[int, set[int]]] = {}
    ends: list[int] = []
    for index, track in enumerate(midi.tracks):
        now, name = 0, ""
        by_bar: dict[int, set[int]] = {}
        for message in track:
            now += message.time
            if message.type == "marker":
                markers.append((now, message.text))
            elif message.type == "track_name":
                name = message.name
            elif message.type == "note_on" and message.velocity > 0:
                by_bar.setdefault((now + DRIFT) // BAR, set()).add(message.note % 12)
        ends.append(now)
        if index:
            pitches[name] = by_bar
    return Parsed(markers, pitches, ends)


@cache
def song(prompt: str, key: str | None = None, bars: int | None = None) -> tuple[composer.SongMetadata, Parsed]:
    result = composer.compose(composer.SongRequest(prompt, key=key, bars=bars))
    return result.metadata, parse(result.midi)


def tones(symbol: str) -> set[int]:
    chord = parse_chord_symbol(symbol)
    assert chord is not None, symbol
    return set(chord.tones)


@pytest.mark.parametrize(
    ("prompt", "key", "chords"),
    [
        ("trap in C minor with i-VI-III-VII", "C minor", ["Cm", "Ab", "Eb", "Bb"]),
        ("pop in G major, I V vi IV", "G major", ["G", "D", "Em", "C"]),
        ("lo-fi ii-V-I in Bb", "Bb major", ["Cm", "F", "Bb"]),
        ("dark techno in A minor, i iv v", "A minor", ["Am", "Dm", "Em"]),
        ("house in A minor, bVI bVII i", "A minor", ["F", "G", "Am"]),
        ("pop in C with I, bVII, IV", "C major", ["C", "Bb", "F"]),
        ("lo-fi in F with Imaj7 vi7 ii7 V7", "F major", ["Fmaj7", "Dm7", "Gm7", "C7"]),
        ("trap in C minor, ii\u00f87 V7 i", "C minor", ["Dm7b5", "G7", "Cm"]),
        ("drill in A minor with i vii\u00b0 i", "A minor", ["Am", "G#dim", "Am"]),
        ("pop in E, I-V-vi-IV", "E major", ["E", "B", "C#m", "A"]),
    ],
)
def test_roman_numerals_become_chords_in_the_prompts_key(prompt: str, key: str, chords: list[str]) -> None:
    meta, _ = song(prompt)
    assert meta.key == key
    assert meta.chord_progression == chords
    assert meta.sources["chord_progression"] == "prompt"
    assert meta.sources["key"] == "prompt"
    assert meta.unknown_words == []


def test_the_numerals_are_what_the_chords_play() -> None:
    meta, parsed = song("pop in G major, I V vi IV", bars=16)
    chords = [tones(symbol) for symbol in meta.chord_progression]
    heard = 0
    for section in meta.sections:
        for bar in range(section.bars):
            played = parsed.pitches_by_bar["Chords"].get(section.start_bar + bar)
            if played:
                assert played == chords[bar % len(chords)], (section.name, bar)
                heard += 1
    assert heard >= 8


def test_the_numerals_decide_the_mode_where_the_prompt_names_none() -> None:
    meta, _ = song("pop I V vi IV")
    assert meta.key.endswith(" major")
    assert meta.sources["key"] == "genre default"
    assert meta.chord_progression[2].endswith("m")
    meta, _ = song("happy pop, i-VI-III-VII")  # the tonic chord is minor, whatever the mood
    assert meta.key.endswith(" minor")
    assert song("trap IV V")[0].key.endswith(" major")  # no tonic chord: the key that holds them
    assert song("pop iv v")[0].key.endswith(" minor")
    assert song("pop in A with vi IV I V")[0].key == "A major"  # a tonic named without a mode
    assert song("drum and bass in D, i VI")[0].chord_progression == ["Dm", "Bb"]


@pytest.mark.parametrize(
    ("prompt", "key", "chords"),
    [
        ("pop I V vi IV", "E major", ["E", "B", "C#m", "A"]),
        ("trap i-VI-III-VII", "F# minor", ["F#m", "D", "A", "E"]),
        ("trap in C minor, i VI", "g dorian", ["Gm", "E"]),  # the request's key wins over the prompt's
        ("pop I V vi IV", "A minor", ["A", "E", "Fm", "D"]),  # plain numerals stand on the key's own degrees
    ],
)
def test_roman_numerals_in_the_requests_key(prompt: str, key: str, chords: list[str]) -> None:
    meta, _ = song(prompt, key=key)
    assert meta.chord_progression == chords
    assert meta.sources["key"] == "request"
    assert meta.sources["chord_progression"] == "prompt"


def test_letter_names_still_win() -> None:
    meta, _ = song("trap Cm-Ab-Eb-Bb")
    assert (meta.key, meta.chord_progression) == ("C minor", ["Cm", "Ab", "Eb", "Bb"])
    meta, _ = song("pop song Am Dm G C, then I V")
    assert meta.chord_progression == ["Am", "Dm", "G", "C"]
    assert meta.unknown_words == ["then", "v"]


@pytest.mark.parametrize(
    "prompt",
    [
        "I want a dark trap beat",
        "dark trap beat, I think",
        "dark trap beat part V",
        "dark trap vs drill",
    ],
)
def test_a_lone_numeral_is_no_progression(prompt: str) -> None:
    meta, _ = song(prompt)
    assert meta.sources["chord_progression"] == "genre default"
    assert "i" not in meta.unknown_words


def test_a_lone_i_changes_nothing() -> None:
    plain = composer.compose(composer.SongRequest("dark trap beat"))
    with_i = composer.compose(composer.SongRequest("I want a dark trap beat"))
    assert with_i.midi == plain.midi
    assert with_i.metadata.unknown_words == []
    assert with_i.metadata.sources["structure"] == "genre default"


def test_numerals_broken_by_a_word_are_two_runs() -> None:
    meta, _ = song("pop in C, I then V vi")
    assert meta.chord_progression == ["G", "Am"]
    assert meta.unknown_words == ["then"]


@pytest.mark.parametrize(
    ("prompt", "bars", "names"),
    [
        ("trap with intro and drop", None, ["intro", "verse", "drop"]),
        ("house, just the drop", None, ["drop"]),
        ("techno drop only", None, ["drop"]),
        ("trap 16 bar loop", None, ["verse"]),
        ("house loop", 8, ["drop"]),
        ("trap beat with a hook", 32, ["verse", "chorus", "verse", "chorus"]),
        ("pop song with a bridge", 16, ["chorus", "bridge", "chorus"]),
        (
            "pop with verse, chorus and bridge",
            64,
            ["verse", "chorus", "verse", "chorus", "verse", "chorus", "bridge", "chorus"],
        ),
        (
            "house with an intro, a buildup, a drop, a breakdown and an outro",
            64,
            ["intro", "build", "drop", "breakdown", "build", "drop", "outro"],
        ),
        ("trap with intro, verse, chorus and outro", 16, ["intro", "verse", "chorus", "outro"]),
        ("house with a build and a drop", 8, ["build", "drop"]),
        ("ambient, no intro", 16, ["verse", "breakdown", "verse", "outro"]),
    ],
)
def test_section_words_shape_the_arrangement(prompt: str, bars: int | None, names: list[str]) -> None:
    meta, parsed = song(prompt, bars=bars)
    assert [section.name for section in meta.sections] == names
    assert meta.sources["structure"] == "prompt"
    assert meta.unknown_words == []
    assert parsed.markers == [(section.start_bar * BAR, section.name) for section in meta.sections]
    starts = [section.start_bar for section in meta.sections]
    assert starts == [sum(section.bars for section in meta.sections[:i]) for i in range(len(starts))]
    assert all(section.bars >= 1 for section in meta.sections)
    assert set(parsed.ends) == {meta.bars * BAR}


def test_the_energy_rises_from_intro_to_drop() -> None:
    meta, parsed = song("house with intro and drop", bars=32)
    energy = {section.name: section.energy for section in meta.sections}
    assert energy["intro"] < energy["drop"]
    assert meta.sections[0].name == "intro"

    def notes_per_bar(name: str) -> float:
        section = next(section for section in meta.sections if section.name == name)
        bars = range(section.start_bar, section.start_bar + section.bars)
        return sum(len(track.get(bar, ())) for track in parsed.pitches_by_bar.values() for bar in bars) / len(bars)

    assert notes_per_bar("intro") < notes_per_bar("drop")


@pytest.mark.parametrize("bars", [1, 2, 3, 5, 7, 16, 33, 100])
@pytest.mark.parametrize(
    "prompt",
    [
        "trap with intro, verse, chorus, bridge and outro",
        "dubstep with intro, build, drop, breakdown and outro",
        "pop, just the chorus",
        "ambient loop",
    ],
)
def test_named_sections_fill_exactly_the_bars_asked_for(prompt: str, bars: int) -> None:
    meta, parsed = song(prompt, bars=bars)
    assert sum(section.bars for section in meta.sections) == meta.bars == bars
    assert set(parsed.ends) == {bars * BAR}
    assert parsed.markers == [(section.start_bar * BAR, section.name) for section in meta.sections]
    assert meta.duration_seconds == bars * 4 * 60 / meta.bpm


@pytest.mark.parametrize("genre", ["trap", "lofi", "house", "pop", "ambient"])
@pytest.mark.parametrize(
    "word", ["intro", "verse", "chorus", "hook", "build", "buildup", "drop", "breakdown", "bridge", "outro"]
)
def test_every_section_word_composes_in_every_form(genre: str, word: str) -> None:
    for prompt in (f"{genre} with a {word}", f"{genre}, just the {word}"):
        meta, parsed = song(prompt, bars=12)
        assert sum(section.bars for section in meta.sections) == 12
        assert meta.unknown_words == []
        assert meta.sources["structure"] == "prompt"
        assert set(parsed.ends) == {12 * BAR}


def test_without_section_words_the_genre_form_stays() -> None:
    meta, _ = song("trap beat with 808s")
    assert meta.sources["structure"] == "genre default"
    assert [section.name for section in meta.sections] == ["intro", "verse", "chorus"]


def test_numerals_and_sections_together() -> None:
    meta, parsed = song("trap in C minor with i-VI-III-VII, intro and drop, kazoo", bars=24)
    assert meta.chord_progression == ["Cm", "Ab", "Eb", "Bb"]
    assert [section.name for section in meta.sections] == ["intro", "verse", "drop"]
    assert meta.sources["chord_progression"] == meta.sources["structure"] == "prompt"
    assert meta.unknown_words == ["kazoo"]
    assert parsed.markers[0] == (0, "intro")
