"""Time signatures: every meter n/d (n 2-15, d 2, 4, 8 or 16) composed, the MIDI read back with mido, the bar and
groove asserted."""

import dataclasses
import io
import math
from collections import Counter
from dataclasses import dataclass
from functools import cache

import mido
import pytest

import composer
import composer.prompt
from composer.genres import GENRES
from composer.score import meter_named
from composer.theory import parse_chord_symbol, parse_key

TPB = 480
SIXTEENTH = TPB // 4
KICK, SNARE, CLAP, CLOSED_HAT = 36, 38, 39, 42
DRIFT = 12  # the most any genre humanises a hit, in ticks


@dataclass(frozen=True)
class Expected:
    numerator: int
    denominator: int
    steps: int  # sixteenths in a bar
    click: int  # MIDI clocks per metronome click
    pulses: frozenset[int]  # sixteenth steps of the counted beats
    backbeat: frozenset[int]  # where the snare and clap land in the main groove


METERS = {
    "2/4": Expected(2, 4, 8, 24, frozenset({0, 4}), frozenset({4})),
    "3/4": Expected(3, 4, 12, 24, frozenset({0, 4, 8}), frozenset({4, 8})),
    "4/4": Expected(4, 4, 16, 24, frozenset({0, 4, 8, 12}), frozenset({4, 12})),
    "5/4": Expected(5, 4, 20, 24, frozenset({0, 4, 8, 12, 16}), frozenset({8, 16})),
    "6/8": Expected(6, 8, 12, 36, frozenset({0, 6}), frozenset({6})),
    "7/8": Expected(7, 8, 14, 12, frozenset({0, 4, 8}), frozenset({4})),
    "12/8": Expected(12, 8, 24, 36, frozenset({0, 6, 12, 18}), frozenset({6, 18})),
}
# Meters with no hand-tuned patterns: their pulses (x/8 and x/16 in threes, the twos first) and the backbeat on
# every other pulse from the second.
GENERATED = {
    "2/2": Expected(2, 2, 16, 48, frozenset({0, 8}), frozenset({8})),
    "3/2": Expected(3, 2, 24, 48, frozenset({0, 8, 16}), frozenset({8})),
    "6/4": Expected(6, 4, 24, 24, frozenset({0, 4, 8, 12, 16, 20}), frozenset({4, 12, 20})),
    "7/4": Expected(7, 4, 28, 24, frozenset({0, 4, 8, 12, 16, 20, 24}), frozenset({4, 12, 20})),
    "3/8": Expected(3, 8, 6, 12, frozenset({0, 2, 4}), frozenset({2})),
    "5/8": Expected(5, 8, 10, 12, frozenset({0, 4}), frozenset({4})),
    "9/8": Expected(9, 8, 18, 36, frozenset({0, 6, 12}), frozenset({6})),
    "10/8": Expected(10, 8, 20, 12, frozenset({0, 4, 8, 14}), frozenset({4, 14})),
    "11/8": Expected(11, 8, 22, 12, frozenset({0, 4, 10, 16}), frozenset({4, 16})),
    "15/8": Expected(15, 8, 30, 36, frozenset({0, 6, 12, 18, 24}), frozenset({6, 18})),
    "7/16": Expected(7, 16, 7, 6, frozenset({0, 2, 4}), frozenset({2})),
    "15/16": Expected(15, 16, 15, 18, frozenset({0, 3, 6, 9, 12}), frozenset({3, 9})),
}
EVERY_METER = [f"{count}/{value}" for value in (2, 4, 8, 16) for count in range(2, 16)]
GROOVE_SECTIONS = ("verse", "chorus", "drop")


@dataclass(frozen=True)
class Note:
    start: int
    end: int
    pitch: int
    velocity: int
    channel: int


@dataclass(frozen=True)
class Parsed:
    midi: mido.MidiFile
    conductor: list[tuple[int, mido.MetaMessage]]
    notes: dict[str, list[Note]]  # by track name
    ends: list[int]  # every track's end tick, the conductor's first
    overlaps: int


def parse(data: bytes) -> Parsed:
    midi = mido.MidiFile(file=io.BytesIO(data))
    conductor: list[tuple[int, mido.MetaMessage]] = []
    notes: dict[str, list[Note]] = {}
    ends: list[int] = []
    overlaps = 0
    for index, track in enumerate(midi.tracks):
        now, name = 0, ""
        sounding: dict[tuple[int, int], tuple[int, int]] = {}
        found: list[Note] = []
        for message in track:
            now += message.time
            if index == 0:
                conductor.append((now, message))
            elif message.type == "track_name":
                name = message.name
            elif message.type == "note_on" and message.velocity > 0:
                overlaps += (message.channel, message.note) in sounding
                sounding[(message.channel, message.note)] = (now, message.velocity)
            elif message.type in ("note_on", "note_off"):
                start, velocity = sounding.pop((message.channel, message.note))
                found.append(Note(start, now, message.note, velocity, message.channel))
        ends.append(now)
        if index:
            notes[name] = sorted(found, key=lambda note: (note.start, note.pitch))
    return Parsed(midi, conductor, notes, ends, overlaps)


@cache
def song(prompt: str, time_signature: str | None = None, **fields: int) -> tuple[composer.SongMetadata, Parsed]:
    result = composer.compose(composer.SongRequest(prompt, time_signature=time_signature, **fields))  # type: ignore[arg-type]
    return result.metadata, parse(result.midi)


def groove_bars(meta: composer.SongMetadata) -> set[int]:
    """Bars of the main groove, leaving out each phrase's last bar where the fills are."""
    return {
        section.start_bar + bar
        for section in meta.sections
        if section.name in GROOVE_SECTIONS
        for bar in range(section.bars)
        if bar % 4 != 3
    }


def bar_of(tick: int, bar_ticks: int) -> int:
    """The bar a (humanised) tick belongs to: a hit a few ticks early is still on the next bar's downbeat."""
    return (tick + DRIFT) // bar_ticks


def step_of(tick: int, bar_ticks: int) -> int:
    """The sixteenth step a (humanised, swung) tick belongs to."""
    return round((tick % bar_ticks) / SIXTEENTH) % (bar_ticks // SIXTEENTH)


@pytest.mark.parametrize("genre", ["pop", "house", "trap", "ambient"])
@pytest.mark.parametrize("name", list(METERS | GENERATED))
def test_the_file_follows_the_meter(name: str, genre: str) -> None:
    expected = (METERS | GENERATED)[name]
    meta, parsed = song(genre, name, bars=13)
    bar_ticks = expected.steps * SIXTEENTH
    assert meta.time_signature == name
    assert meta.sources["time_signature"] == "request"
    signatures = [m for _, m in parsed.conductor if m.type == "time_signature"]
    assert [(m.numerator, m.denominator, m.clocks_per_click) for m in signatures] == [
        (expected.numerator, expected.denominator, expected.click)
    ]
    assert meta.bars == 13
    assert parsed.ends == [13 * bar_ticks] * len(parsed.ends)
    markers = [(tick, m.text) for tick, m in parsed.conductor if m.type == "marker"]
    assert markers == [(section.start_bar * bar_ticks, section.name) for section in meta.sections]
    quarter_notes = expected.numerator * 4 / expected.denominator  # bpm counts quarter notes in every meter
    assert meta.duration_seconds == pytest.approx(13 * quarter_notes * 60 / meta.bpm)
    assert math.isclose(parsed.midi.length, meta.duration_seconds, rel_tol=1e-5)


@pytest.mark.parametrize("genre", ["pop", "house", "boom bap", "trap", "dubstep", "lo-fi hip-hop", "ambient"])
@pytest.mark.parametrize("name", list(METERS))
def test_every_part_keeps_the_invariants(name: str, genre: str) -> None:
    meta, parsed = song(genre, name, bars=24, seed=5)
    end = 24 * METERS[name].steps * SIXTEENTH
    assert parsed.overlaps == 0
    for info in meta.tracks:
        notes = parsed.notes[info.name]
        assert len(notes) == info.note_count > 0, info.name
        assert {note.channel for note in notes} == {info.channel}
        assert (info.channel == 9) == info.is_drum
        assert all(0 <= note.start < note.end <= end and 1 <= note.velocity <= 127 for note in notes)
    pitched = [note for name_, notes in parsed.notes.items() if name_ != "Drums" for note in notes]
    scale = set(meta.scale_pitch_classes)
    assert sum(note.pitch % 12 in scale for note in pitched) / len(pitched) >= 0.98
    again = composer.compose(composer.SongRequest(genre, time_signature=name, bars=24, seed=5))
    assert again.metadata == meta
    assert parse(again.midi).notes == parsed.notes


@pytest.mark.parametrize("genre", ["pop", "house", "boom bap", "trap", "dubstep", "drum and bass"])
@pytest.mark.parametrize("name", [name for name in METERS | GENERATED if name != "4/4"])
def test_the_groove_counts_the_meter(name: str, genre: str) -> None:
    expected = (METERS | GENERATED)[name]
    meta, parsed = song(genre, name, bars=32)
    bar_ticks = expected.steps * SIXTEENTH
    bars = groove_bars(meta)
    drums = [note for note in parsed.notes["Drums"] if bar_of(note.start, bar_ticks) in bars]
    kicked = {bar_of(n.start, bar_ticks) for n in drums if n.pitch == KICK and step_of(n.start, bar_ticks) == 0}
    assert kicked == bars, "every bar of the groove starts on the kick"
    backbeat = Counter(step_of(note.start, bar_ticks) for note in drums if note.pitch in (SNARE, CLAP))
    assert set(backbeat) == expected.backbeat <= expected.pulses
    hats = {step_of(note.start, bar_ticks) for note in drums if note.pitch == CLOSED_HAT}
    assert hats
    eighths = expected.denominator < 16  # in x/16 the pulses fall between the eighths: hats keep the sixteenths
    assert genre == "trap" or not eighths or all(step % 2 == 0 for step in hats), "hats keep the eighths"
    loud = max(note.velocity for note in drums if note.pitch in (SNARE, CLAP))
    assert all(step_of(n.start, bar_ticks) in expected.pulses for n in drums if n.velocity == loud)


@pytest.mark.parametrize("genre", ["pop", "boom bap", "trap", "lo-fi hip-hop"])
@pytest.mark.parametrize("name", ["3/4", "6/8", "7/8", "12/8", "9/8", "5/8", "11/8", "3/2", "15/16"])
def test_bass_lands_on_the_downbeat_with_the_chord_root(name: str, genre: str) -> None:
    meta, parsed = song(genre, name, bars=16)
    bar_ticks = (METERS | GENERATED)[name].steps * SIXTEENTH
    progression = [parse_chord_symbol(symbol) for symbol in meta.chord_progression]
    roots = {
        section.start_bar + bar: progression[bar % len(progression)].root  # type: ignore[union-attr]
        for section in meta.sections
        for bar in range(section.bars)
    }
    roots[meta.bars - 1] = parse_key(meta.key).tonic  # type: ignore[union-attr]  # the genre's progression ends home
    bass = next(notes for track, notes in parsed.notes.items() if track in ("Bass", "808"))
    playing = {bar_of(note.start, bar_ticks) for note in bass}
    downbeats = {bar_of(n.start, bar_ticks): n.pitch % 12 for n in bass if step_of(n.start, bar_ticks) == 0}
    assert set(downbeats) == playing
    assert all(roots[bar] == pitch_class for bar, pitch_class in downbeats.items())


@pytest.mark.parametrize(
    ("prompt", "meter"),
    [
        ("pop waltz", "3/4"),
        ("house in 3/4", "3/4"),
        ("6/8 ballad", "6/8"),
        ("12/8 blues feel", "12/8"),
        ("techno in 5/4 time", "5/4"),
        ("drum and bass 7/8", "7/8"),
        ("trap at 2/4, 140 bpm", "2/4"),
    ],
)
def test_the_prompt_names_the_meter(prompt: str, meter: str) -> None:
    meta, parsed = song(prompt)
    assert meta.time_signature == meter
    assert meta.sources["time_signature"] == "prompt"
    assert not {"waltz", "3", "4", "6", "8", "5", "7", "12", "2", "time"} & set(meta.unknown_words)
    assert parsed.ends == [meta.bars * METERS[meter].steps * SIXTEENTH] * len(parsed.ends)


def test_the_request_overrides_the_prompt_and_the_genre_default_is_common_time() -> None:
    meta, _ = song("pop waltz", "6/8")
    assert meta.time_signature == "6/8"
    assert meta.sources["time_signature"] == "request"
    meta, parsed = song("pop ballad")
    assert meta.time_signature == "4/4"
    assert meta.sources["time_signature"] == "genre default"
    assert [(m.numerator, m.denominator) for _, m in parsed.conductor if m.type == "time_signature"] == [(4, 4)]
    assert song("trap with 1/8 hats")[0].time_signature == "4/4"


def test_seconds_count_bars_of_the_meter() -> None:
    assert song("pop", "6/8", seconds=30, bpm=120)[0].bars == 20  # a 6/8 bar is three quarter notes
    assert song("pop in 7/8 at 105 bpm", seconds=60)[0].bars == 30  # 3.5 quarter notes a bar
    meta = song("pop", "3/4", seconds=30, bpm=120)[0]
    assert (meta.bars, meta.duration_seconds) == (20, 30)


@pytest.mark.parametrize(
    "value", ["17/8", "1/4", "16/16", "4/3", "5/9", "0/4", "04/4", "4/04", "3-4", "4/4 ", "", "waltz", "6/8/8", 3]
)
def test_an_unsupported_time_signature_is_refused(value: object) -> None:
    request = composer.SongRequest("pop", time_signature=value)  # type: ignore[arg-type]
    with pytest.raises(composer.InvalidSongRequest) as caught:
        composer.validate(request)
    assert caught.value.field == "time_signature"
    assert not isinstance(caught.value, composer.SongRequestTooLarge)
    assert "time signature" in caught.value.reason
    assert "n/d with n 2-15 and d 2, 4, 8 or 16" in caught.value.reason


@pytest.mark.parametrize("name", EVERY_METER)
def test_every_meter_composes_with_every_genre(name: str) -> None:
    count, value = map(int, name.split("/"))
    steps = count * 16 // value
    for genre in GENRES:
        result = composer.compose(composer.SongRequest(genre.name, time_signature=name, bars=6, seed=2))
        meta, parsed = result.metadata, parse(result.midi)
        assert meta.time_signature == name
        signatures = [m for _, m in parsed.conductor if m.type == "time_signature"]
        assert [(m.numerator, m.denominator, m.notated_32nd_notes_per_beat) for m in signatures] == [(count, value, 8)]
        assert parsed.ends == [6 * steps * SIXTEENTH] * len(parsed.ends), genre.name
        assert math.isclose(parsed.midi.length, meta.duration_seconds, rel_tol=1e-5)
        assert parsed.overlaps == 0
        assert all(info.note_count > 0 for info in meta.tracks), genre.name
        pitched = [note for track, notes in parsed.notes.items() if track != "Drums" for note in notes]
        scale = set(meta.scale_pitch_classes)
        assert sum(note.pitch % 12 in scale for note in pitched) / len(pitched) >= 0.98, genre.name
    again = composer.compose(composer.SongRequest(GENRES[-1].name, time_signature=name, bars=6, seed=2))
    assert again.midi == result.midi


@pytest.mark.parametrize("name", EVERY_METER)
def test_the_pulses_group_the_bar_as_players_count_it(name: str) -> None:
    count, value = map(int, name.split("/"))
    meter = meter_named(name)
    assert meter is not None
    assert meter.name == name
    assert meter.pulses[0] == 0
    assert sum(meter.spans) == meter.steps == count * 16 // value
    unit = 16 // value
    groups = [span // unit for span in meter.spans]
    assert all(span % unit == 0 for span in meter.spans)
    if value <= 4 or count <= 3:
        assert groups == [1] * count  # beats of a half or a quarter note, and the notes of a tiny bar, each count
    else:
        assert set(groups) <= {2, 3}
        assert groups == sorted(groups), "the twos come first, the threes lean into the next bar"
        assert groups.count(2) <= 2, "as few pulses as the count allows"
        assert (count % 3 == 0) == (groups.count(2) == 0)
    conductor = parse(composer.compose(composer.SongRequest("pop", time_signature=name, bars=1)).midi).conductor
    (signature,) = [message for _, message in conductor if message.type == "time_signature"]
    # A MIDI clock is 1/24 of a quarter note (6 a sixteenth): the metronome clicks the pulse, or the unit the
    # pulses share where they differ (an eighth in 7/8's 2+2+3).
    assert signature.clocks_per_click == 6 * math.gcd(*meter.spans)


def test_the_hand_tuned_meters_keep_their_pulses() -> None:
    for name, expected in METERS.items():
        meter = meter_named(name)
        assert meter is not None
        assert frozenset(meter.pulses) == expected.pulses
        assert 6 * meter.click_steps == expected.click


@pytest.mark.parametrize(
    ("prompt", "meter"),
    [
        ("A cinematic soundtrack piece with french horn and timpani in C minor, 6/4, slow tempo", "6/4"),
        ("A folk dance in 9/8 with fiddle and accordion", "9/8"),
        ("The piece is in 5/8.", "5/8"),
        ("progressive rock, the time signature is 11/8", "11/8"),
        ("a jazz waltz feel but with a 7/4 time signature", "7/4"),
        ("a march in cut time", "2/2"),
        ("a minuet in triple meter", "3/4"),
        ("pop in common time", "4/4"),
        ("12/8 time shuffle blues", "12/8"),
        ("a 15/16 time signature for a jittery techno loop", "15/16"),
        ("a hymn in 3/2", "3/2"),
        ("a time signature of 13/8", "13/8"),
    ],
)
def test_the_prompt_names_any_meter(prompt: str, meter: str) -> None:
    meta, parsed = song(prompt)
    assert meta.time_signature == meter
    assert meta.sources["time_signature"] == "prompt"
    count, value = meter.split("/")
    assert not {count, value, "time", "signature", "cut", "common", "triple", "meter"} & set(meta.unknown_words)
    steps = int(count) * 16 // int(value)
    assert parsed.ends == [meta.bars * steps * SIXTEENTH] * len(parsed.ends)


@pytest.mark.parametrize(
    "prompt",
    [
        "lofi beats to study to, 24/7",
        "trap with 1/2 note bass slides and 1/16 hats",
        "a synth arpeggio in 3/8 notes",
        "released 12/08/2024, a pop song",
        "pop song, C G/B Am F",
    ],
)
def test_fractions_that_are_no_meter_are_not_read_as_one(prompt: str) -> None:
    meta, _ = song(prompt)
    assert meta.time_signature == "4/4"
    assert meta.sources["time_signature"] == "genre default"


@pytest.mark.parametrize(
    ("prompt", "fraction"),
    [("pop in 17/8", "17/8"), ("a 16/4 time signature", "16/4"), ("a 5/9 time signature", "5/9"),
     ("jazz, time signature: 1/4", "1/4")],
)  # fmt: skip
def test_a_meter_out_of_range_in_the_prompt_is_an_unknown_word_and_the_song_is_composed(
    prompt: str, fraction: str
) -> None:
    meta, _ = song(prompt)
    assert meta.time_signature == "4/4"
    assert meta.sources["time_signature"] == "genre default"
    assert meta.unknown_words == [fraction]


def test_a_meter_word_that_is_also_a_genre_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    waltz = dataclasses.replace(GENRES[0], name="waltz", phrases=("waltz",), time_signature="3/4")
    monkeypatch.setattr(composer.prompt, "GENRES", (*GENRES, waltz))
    info = composer.prompt.parse_prompt("a slow waltz in D minor")
    assert info.genre == waltz
    assert info.time_signature == "3/4"
    assert "waltz" not in info.unknown_words
