"""Named instruments are the arrangement: captions naming instruments of every family, each played by a track with
its exact General MIDI program and notes; the roles they take, the drums the song keeps, the one-instrument case as
before, the 15-track limit; the MIDI read back with mido."""

import io
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

import mido
import pytest

import composer
from composer.instruments import GM_PROGRAMS, INSTRUMENT_WORDS
from composer.prompt import parse_prompt

# MidiCaps' names for programs (its captions' table); every program it leaves out goes by its General MIDI name.
CAPTION_TABLE: dict[str, set[int]] = {
    "piano": {0, 1, 4, 5}, "electric piano": {2}, "honky tonk piano": {3}, "hammond organ": {16},
    "acoustic guitar": {24, 25}, "electric guitar": {26, 28}, "clean electric guitar": {27},
    "overdriven guitar": {29}, "distortion guitar": {30}, "electric bass": {33, 34}, "slap bass": {36, 37},
    "synth bass": {38, 39}, "string ensemble": {48, 49}, "synth strings": {50, 51}, "choir aahs": {52},
    "voice oohs": {53}, "synth voice": {54, 85}, "synth brass": {62, 63}, "soprano saxophone": {64},
    "alto saxophone": {65}, "tenor saxophone": {66}, "baritone saxophone": {67}, "bottle blow": {76},
    "synth lead": {80, 81, 86}, "calliope lead": {82}, "chiffer lead": {83}, "charang lead": {84},
    "brass lead": {87}, "synth pad": set(range(88, 96)), "synth effects": set(range(96, 104)), "shana": {111},
}  # fmt: skip
IN_THE_TABLE = set().union(*CAPTION_TABLE.values())
GM_NAMED = {GM_PROGRAMS[program].lower().replace("-", " "): {program} for program in range(128)
            if program not in IN_THE_TABLE}  # fmt: skip
EVERY_CAPTION_NAME = CAPTION_TABLE | GM_NAMED

# Caption-style prompts naming 2 to 6 instruments, by family, with the programs they name.
FAMILIES: dict[str, tuple[str, set[int]]] = {
    "orchestral": (
        "A cinematic piece with french horn, timpani, string ensemble, choir aahs and orchestral harp, in C minor at "
        "a slow tempo; epic and dark.",
        {60, 47, 48, 52, 46},
    ),
    "strings": (
        "This classical piece features string ensemble, violin, viola, cello and contrabass. Set in D major with a "
        "3/4 time signature at an Andante tempo.",
        {48, 40, 41, 42, 43},
    ),
    "woodwinds": (
        "A calm piece for flute, oboe, clarinet, bassoon, piccolo and french horn in F major.",
        {73, 68, 71, 70, 72, 60},
    ),
    "band": (
        "A fast rock song with distortion guitar, overdriven guitar, electric bass and drums in E minor. The time "
        "signature is 4/4 and the tempo is 150 bpm.",
        {30, 29, 33},
    ),
    "folk": (
        "A country song featuring banjo, fiddle, acoustic guitar, harmonica and acoustic bass, in G major, 2/4.",
        {105, 110, 24, 22, 32},
    ),
    "jazz": (
        "A short jazz piece with piano, acoustic bass, tenor saxophone, trumpet, trombone and drums in Bb major; the "
        "tempo is Allegro.",
        {0, 32, 66, 56, 57},
    ),
    "keys": (
        "A retro song with hammond organ, honky-tonk piano, electric piano, clavinet and slap bass in A minor.",
        {16, 3, 2, 7, 36},
    ),
    "electronic": (
        "A melodic electronic song featuring synth pad, synth lead, synth bass, synth strings and drums, set in F "
        "minor with a 4/4 time signature.",
        {89, 81, 38, 50},
    ),
    "synths": (
        "A space-themed piece with calliope lead, chiffer lead, charang lead, synth voice, synth brass and synth "
        "effects.",
        {82, 83, 84, 54, 62, 99},
    ),
    "ethnic": (
        "A world piece with sitar, shamisen, koto, shana, kalimba and bagpipe in D minor.",
        {104, 106, 107, 111, 108, 109},
    ),
    "percussion": (
        "A playful tune with tinkle bell, agogo, woodblock, steel drums, taiko drum and marimba in C major.",
        {112, 113, 115, 114, 116, 12},
    ),
    "sound effects": (
        "An experimental piece featuring seashore, bird tweet, helicopter, applause and gunshot over a clean "
        "electric guitar.",
        {122, 123, 125, 126, 127, 27},
    ),
    "two": ("A gentle duet for cello and piano in E minor.", {42, 0}),
}


@dataclass
class Track:
    name: str = ""
    channel: int = -1
    program: int = -1
    pan: int = -1
    notes: list[tuple[int, int]] = field(default_factory=list)  # (start tick, pitch)


@cache
def song(prompt: str, seed: int = 0, bars: int | None = None) -> composer.ComposedSong:
    return composer.compose(composer.SongRequest(prompt, seed=seed, bars=bars))


def tracks(result: composer.ComposedSong) -> list[Track]:
    found = []
    for raw in mido.MidiFile(file=io.BytesIO(result.midi)).tracks[1:]:
        track, now = Track(), 0
        for message in raw:
            now += message.time
            if message.type == "track_name":
                track.name = message.name
            elif message.type == "program_change":
                track.channel, track.program = message.channel, message.program
            elif message.type == "control_change" and message.control == 10:
                track.pan = message.value
            elif message.type == "note_on" and message.velocity > 0:
                track.notes.append((now, message.note))
        found.append(track)
    return found


def pitched_programs(result: composer.ComposedSong) -> list[int]:
    return [track.program for track in tracks(result) if track.channel != 9 and track.notes]


def has_drums(result: composer.ComposedSong) -> bool:
    return any(track.channel == 9 for track in tracks(result))


@pytest.mark.parametrize(("name", "programs"), sorted(EVERY_CAPTION_NAME.items()))
def test_every_name_captions_use_chooses_a_program_it_names(name: str, programs: set[int]) -> None:
    assert INSTRUMENT_WORDS[name].program in programs
    info = parse_prompt(f"A calm piece featuring {name} and drums.")
    named = [word.program for word in info.instruments if word.program is not None]
    assert named, name
    assert named[0] in programs, name
    assert set(name.split()).isdisjoint(info.unknown_words)


@pytest.mark.parametrize(
    ("name", "program"),
    [
        ("saxophones", 65), ("violins", 40), ("strings section", 48), ("string section", 48), ("cellos", 42),
        ("acoustic grand piano", 0), ("e-piano", 2), ("electric piano 1", 4), ("trumpets", 56),
        ("acoustic guitar (nylon)", 24), ("electric guitar (muted)", 28), ("synth pads", 89), ("alto sax", 65),
        ("french horns", 60), ("pizzicato strings", 45), ("taiko drums", 116), ("choir", 52), ("flutes", 73),
    ],
)  # fmt: skip
def test_plurals_and_common_spellings_name_their_program(name: str, program: int) -> None:
    info = parse_prompt(f"a piece for {name} and piano")
    assert info.instruments[0].program == program
    assert not info.unknown_words


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_named_instrument_is_played_by_a_track_with_its_program_and_notes(family: str) -> None:
    prompt, programs = FAMILIES[family]
    for seed in (0, 1):
        result = song(prompt, seed)
        played = pitched_programs(result)
        assert programs <= set(played), f"{family}: {sorted(programs - set(played))} not played"
        assert len(played) == len(set(played)), "each instrument once"
        meta = result.metadata
        added = {t.name for t in meta.tracks if not t.is_drum and t.program not in programs}
        assert added <= {"Bass", "808"}, "the genre adds no chords, lead, pad or effects (a groove genre its bass)"
        assert all(t.note_count > 0 for t in meta.tracks)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_an_arrangement_of_named_instruments_stays_in_the_key(family: str) -> None:
    result = song(FAMILIES[family][0])
    scale = set(result.metadata.scale_pitch_classes)
    pitches = [pitch for track in tracks(result) if track.channel != 9 for _, pitch in track.notes]
    assert sum(pitch % 12 in scale for pitch in pitches) / len(pitches) >= 0.98
    channels = [track.channel for track in tracks(result)]
    assert len(channels) == len(set(channels))


def test_instruments_take_melody_accompaniment_and_bass_by_what_they_are() -> None:
    jazz = song(FAMILIES["jazz"][0]).metadata.tracks
    assert {t.program: t.name for t in jazz if not t.is_drum} == {
        0: "Chords", 32: "Bass", 66: "Lead", 56: "Lead 2", 57: "Lead 3",
    }  # fmt: skip
    assert jazz[0].name == "Drums"
    # The lowest of several basses plays the bass line, whichever was named first; the other doubles it above.
    strings = {t.program: t.name for t in song(FAMILIES["strings"][0]).metadata.tracks}
    assert strings[43] == "Bass"
    assert strings[42] == "Bass 2"
    assert strings[40] == "Lead"
    assert strings[48] == "Pad"


def test_a_second_melodic_instrument_plays_the_melody_in_harmony_and_a_third_a_counter_line() -> None:
    by_name = {track.name: track for track in tracks(song(FAMILIES["jazz"][0]))}
    melody, harmony, counter = by_name["Lead"].notes, by_name["Lead 2"].notes, by_name["Lead 3"].notes
    assert [start for start, _ in harmony] == [start for start, _ in melody]
    assert all(0 < a - b <= 12 for (_, a), (_, b) in zip(melody, harmony, strict=True)), "a third (or so) below"
    assert [start for start, _ in counter] != [start for start, _ in melody]
    pans = {by_name[name].pan for name in ("Lead", "Lead 2", "Lead 3")}
    assert len(pans) == 3, "several leads spread across the stereo field"


def test_a_second_bass_doubles_the_first_an_octave_up() -> None:
    by_name = {track.name: track for track in tracks(song(FAMILIES["strings"][0]))}
    assert [(start, pitch + 12) for start, pitch in by_name["Bass"].notes] == by_name["Bass 2"].notes


def test_parts_sit_in_their_instrument_s_range() -> None:
    by_program = {track.program: track for track in tracks(song(FAMILIES["woodwinds"][0]))}
    for program, (low, high) in {73: (60, 96), 68: (58, 91), 70: (34, 72), 72: (74, 108)}.items():
        pitches = [pitch for _, pitch in by_program[program].notes]
        assert low <= sum(pitches) / len(pitches) <= high, GM_PROGRAMS[program]


@pytest.mark.parametrize(
    ("prompt", "drums"),
    [
        ("A gentle duet for cello and piano in E minor.", False),
        ("A gentle duet for cello, piano and drums in E minor.", True),
        ("a beat with cello and piano", True),
        ("pop with cello and piano", False),
        ("house with cello and piano", True),
        ("trap with flute and piano, no drums", False),
    ],
)
def test_drums_play_when_named_asked_for_as_a_beat_or_the_genre_lives_on_its_groove(prompt: str, drums: bool) -> None:
    assert has_drums(song(prompt)) == drums


def test_the_genre_s_bass_joins_only_when_no_named_instrument_takes_the_bass_and_the_genre_lives_on_its_groove() -> (
    None
):
    house = song("house with flute and piano").metadata
    assert [t.name for t in house.tracks] == ["Drums", "Bass", "Chords", "Lead"]
    assert {t.program for t in house.tracks} == {25, 38, 0, 73}
    assert {t.program for t in song("house with flute, piano and fretless bass").metadata.tracks} == {25, 35, 0, 73}
    assert "Bass" not in {t.name for t in song("pop with flute and piano").metadata.tracks}
    assert "Bass" not in {t.name for t in song("house with flute and piano, without bass").metadata.tracks}
    plain = song("a duet for flute and piano with a bass line").metadata
    assert "Bass" in {t.name for t in plain.tracks}, "a role asked for by a plain word joins"


@pytest.mark.parametrize(
    ("prompt", "names"),
    [
        ("trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor", ["Drums", "808", "Chords", "Lead"]),
        ("boom bap with piano", ["Drums", "Bass", "Chords", "Lead"]),
        ("lofi hip hop with jazzy rhodes and vinyl swing at 85", ["Drums", "Bass", "Chords", "Lead", "Pad", "FX"]),
        ("house with strings and flute and an 808", ["Drums", "808", "Lead", "Pad"]),
    ],
)
def test_one_named_instrument_keeps_the_genre_s_set_with_it_in_its_role(prompt: str, names: list[str]) -> None:
    assert [t.name for t in song(prompt).metadata.tracks] == names


def test_every_named_instrument_sounds_even_where_the_form_leaves_its_role_out() -> None:
    drop = song("dubstep drop with synth pad and synth lead", bars=4).metadata
    assert {t.program: t.note_count > 0 for t in drop.tracks if not t.is_drum} == {89: True, 81: True, 87: True}
    cymbal = song("a reverse cymbal over piano and flute", bars=2).metadata
    assert next(t for t in cymbal.tracks if t.program == 119).note_count > 0


def test_every_sound_effect_named_sounds() -> None:
    meta = song("lofi hip hop with rhodes, vinyl, seashore and bird tweet").metadata
    assert {122, 123, 96, 4} <= {t.program for t in meta.tracks if t.note_count}


def test_fifteen_instruments_fill_the_channels_and_sixteen_are_refused() -> None:
    fifteen = [
        "piano", "violin", "viola", "cello", "contrabass", "flute", "oboe", "clarinet", "bassoon", "trumpet",
        "trombone", "tuba", "french horn", "orchestral harp", "timpani",
    ]  # fmt: skip
    result = song(f"An orchestral piece with {', '.join(fifteen)} and drums.")
    played = tracks(result)
    assert len([t for t in played if t.channel != 9]) == 15
    assert sorted(t.channel for t in played) == list(range(16))
    assert all(track.notes for track in played)
    with pytest.raises(composer.InvalidSongRequest) as error:
        composer.validate(composer.SongRequest(f"An orchestral piece with {', '.join(fifteen)} and celesta."))
    assert error.value.field == "prompt"
    assert "16" in str(error.value)


def test_same_prompt_and_seed_make_the_same_bytes() -> None:
    prompt = FAMILIES["jazz"][0]
    first = composer.compose(composer.SongRequest(prompt, seed=7)).midi
    assert composer.compose(composer.SongRequest(prompt, seed=7)).midi == first
    assert composer.compose(composer.SongRequest(prompt, seed=8)).midi != first


def test_every_family_at_several_seeds_plays_each_instrument() -> None:
    misses: dict[str, list[int]] = defaultdict(list)
    for family, (prompt, programs) in FAMILIES.items():
        for seed in (2, 3, 4):
            missing = programs - set(pitched_programs(song(prompt, seed, bars=8)))
            misses[family] += sorted(missing)
    assert not any(misses.values()), dict(misses)


def test_struck_instruments_keep_the_pulse() -> None:
    result = song(FAMILIES["percussion"][0])
    by_program = {track.program: track for track in tracks(result)}
    for program in (113, 115, 116):
        assert len(by_program[program].notes) >= 2 * result.metadata.bars, GM_PROGRAMS[program]


def test_the_plain_english_of_listing_instruments_is_no_unknown_word() -> None:
    caption = "A piece including piano and violin, accompanied by cello, together with the other instruments."
    assert song(caption).metadata.unknown_words == []
    caption = (
        "The song's overall mood is calm, making it perfect for listening; it features piano and flute prominently."
    )
    assert song(caption).metadata.unknown_words == []


@pytest.mark.parametrize(
    "prompt",
    ["A duet for violin and flute in A minor.", "house with flute and piano", "A lullaby for cello and oboe, 3/4."],
)
def test_no_section_of_an_arrangement_is_silent(prompt: str) -> None:
    result = song(prompt)
    bar_ticks = round(result.metadata.duration_seconds / result.metadata.bars * result.metadata.bpm / 60 * 480)
    sounding_bars = {start // bar_ticks for track in tracks(result) for start, _ in track.notes}
    for section in result.metadata.sections:
        assert sounding_bars & set(range(section.start_bar, section.start_bar + section.bars)), section.name


def test_a_melody_asked_for_in_plain_words_goes_to_the_first_named_instrument_that_can_play_one() -> None:
    meta = song("A ballad with piano playing the melody over a string ensemble.").metadata
    assert {t.name: t.program for t in meta.tracks} == {"Lead": 0, "Pad": 48}
