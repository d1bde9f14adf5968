"""How producers write prompts beyond the basics: slash chords, borrowed chords, bare tempos, lengths in minutes
and seconds, roles left out, title case and keys spelled out in words; the MIDI read back with mido."""

import io
from functools import cache

import mido
import pytest
from midi_notes import notes

import composer
from composer.theory import parse_chord_symbol, parse_key

TPB = 480
BAR = 4 * TPB


@cache
def song(prompt: str, key: str | None = None, bars: int | None = None) -> composer.ComposedSong:
    return composer.compose(composer.SongRequest(prompt, key=key, bars=bars))


def test_a_slash_chord_is_one_chord_over_its_bass_note() -> None:
    result = song("pop C G/B Am F", bars=8)
    meta = result.metadata
    assert meta.chord_progression == ["C", "G/B", "Am", "F"]  # not C, G, B (major), Am, F
    assert meta.borrowed_chords == []
    assert meta.key == "C major"
    bass = notes(result.midi, "Bass")
    bar_of_g_over_b = [i for i, chord in enumerate(meta.chord_progression * 2) if chord == "G/B"]
    lowest = {bar: min(p for t, p in bass if t // BAR == bar) % 12 for bar in bar_of_g_over_b if bar >= 2}
    assert lowest, "G/B is played past the first two bars"
    assert set(lowest.values()) == {11}, lowest  # the bass stands on B
    scale = set(meta.scale_pitch_classes)
    pitched = [p for name in ("Bass", "Chords", "Lead") for _, p in notes(result.midi, name)]
    assert all(p % 12 in scale for p in pitched)


def test_slashes_chaining_chords_still_separate_them() -> None:
    assert song("pop Am/F/C/G").metadata.chord_progression == ["Am", "F", "C", "G"]
    assert song("pop C / G / Am / F").metadata.chord_progression == ["C", "G", "Am", "F"]
    chord = parse_chord_symbol("C", "D")
    assert chord is not None
    assert chord.bass == 2
    assert 2 in chord.tones
    assert chord.symbol == "C/D"


@pytest.mark.parametrize(
    ("prompt", "borrowed"),
    [
        ("pop C E7 Am F", ["E7"]),
        ("trap Am E Am E", ["E"]),
        ("pop in C with I, bVII, IV", ["Bb"]),
        ("house Am Dm G C", []),
        ("trap in F minor", []),
    ],
)
def test_borrowed_chords_are_said_in_the_metadata(prompt: str, borrowed: list[str]) -> None:
    result = song(prompt)
    meta = result.metadata
    assert meta.borrowed_chords == borrowed
    assert meta.to_dict()["borrowed_chords"] == borrowed
    scale = set(meta.scale_pitch_classes)
    outside = {p % 12 for name in ("Chords", "Lead") for _, p in notes(result.midi, name)} - scale
    borrowed_tones: set[int] = set()
    for symbol in borrowed:
        chord = parse_chord_symbol(symbol)
        assert chord is not None
        borrowed_tones |= set(chord.tones)
    assert outside <= borrowed_tones


@pytest.mark.parametrize(
    ("prompt", "bpm", "key"),
    [
        ("dubstep drop wobble bass 140", 140, None),
        ("trap Gm 140", 140, "G minor"),
        ("lofi beat 85, C minor", 85, "C minor"),
        ("drum and bass 174.5", 174.5, None),
    ],
)
def test_a_number_standing_alone_is_the_tempo(prompt: str, bpm: float, key: str | None) -> None:
    meta = song(prompt).metadata
    assert meta.bpm == bpm
    assert meta.sources["bpm"] == "prompt"
    assert meta.unknown_words == []
    if key is not None:
        assert meta.key == key


@pytest.mark.parametrize(
    ("caption", "low", "high"),
    [
        ("A meditative classical piece in D minor, played Adagio on the piano.", 66, 76),
        ("Moderato: a string ensemble and an oboe in 3/4", 108, 120),
        ("An energetic pop song. The tempo is Allegro.", 120, 156),
        ("Presto, a frantic violin line over timpani", 168, 200),
        ("A soundtrack cue, Largo, with French horns", 40, 60),
        ("Andante, a gentle folk tune on acoustic guitar", 76, 108),
        ("Prestissimo piano etude", 200, 300),
        ("Allegro moderato march for brass", 116, 120),
        ("Vivace dance in A major", 156, 176),
    ],
)
def test_a_tempo_marking_sets_a_tempo_inside_its_range(caption: str, low: float, high: float) -> None:
    meta = song(caption).metadata
    assert low <= meta.bpm <= high
    assert meta.sources["bpm"] == "prompt"
    assert not {"adagio", "moderato", "allegro", "presto", "largo", "andante", "prestissimo", "vivace"} & set(
        meta.unknown_words
    )


# MidiCaps' bins: the tempo word its captions write for a song's BPM (up to and including each upper bound).
CAPTION_BINS = {
    "grave": (0, 40), "largo": (40, 60), "adagio": (60, 70), "andante": (70, 90), "moderato": (90, 110),
    "allegro": (110, 140), "vivace": (140, 160), "presto": (160, 210), "prestissimo": (210, 300),
    "slow": (0, 80), "moderate": (80, 120), "fast": (120, 160), "very fast": (160, 300),
}  # fmt: skip


@pytest.mark.parametrize("word", sorted(CAPTION_BINS))
@pytest.mark.parametrize("genre", ["", "trap", "techno", "lofi", "ambient", "drum and bass", "pop"])
def test_a_caption_tempo_word_lands_in_its_captions_bin_whatever_the_genre(word: str, genre: str) -> None:
    low, high = CAPTION_BINS[word]
    meta = song(f"A {genre} song in A minor; the tempo is {word.title()}.").metadata
    assert low < meta.bpm <= high
    assert meta.sources["bpm"] == "prompt"
    assert meta.unknown_words == []


@pytest.mark.parametrize(
    ("prompt", "bpm"),
    [
        ("slow trap beat", 65),  # the genre's slow tempo, 130, in half time
        ("slow lofi hip hop", 70),
        ("a moderate pop song", 116),
        ("fast ambient", 160),  # 80 doubled
        ("fast-paced drum and bass", 160),  # 176 fits no octave of the range: its nearest tempo
        ("very fast techno", 161),
    ],
)
def test_a_tempo_word_moves_the_genres_own_tempo_by_octaves_into_its_range(prompt: str, bpm: float) -> None:
    assert song(prompt).metadata.bpm == bpm


def test_a_bpm_number_wins_over_a_tempo_marking() -> None:
    meta = song("Allegro, at 96 bpm, a piano sonata").metadata
    assert meta.bpm == 96
    assert "allegro" not in meta.unknown_words


@pytest.mark.parametrize("prompt", ["top 40 pop", "trap with 808s", "house with 4 on the floor", "pop 16 bars"])
def test_numbers_that_are_no_tempo_leave_the_genre_tempo(prompt: str) -> None:
    assert song(prompt).metadata.sources["bpm"] == "genre default"


@pytest.mark.parametrize(
    ("prompt", "bars"),
    [("trap 2 min 30 s", 88), ("trap 2 minutes 30 seconds", 88), ("trap 1.5 minutes", 53), ("trap 90 seconds", 53)],
)
def test_minutes_and_seconds_add_up(prompt: str, bars: int) -> None:
    meta = song(prompt).metadata
    assert meta.bars == bars  # 150 s at 140 BPM is 87.5 bars, not the 70 of 2 minutes alone
    assert meta.sources["bars"] == "prompt"


def test_minutes_and_seconds_over_the_limit_are_too_large() -> None:
    with pytest.raises(composer.SongRequestTooLarge) as error:
        composer.validate(composer.SongRequest("trap 10 minutes 30 seconds"))
    assert error.value.field == "prompt"


def test_no_chords_leaves_the_chords_out() -> None:
    names = [track.name for track in song("trap no chords").metadata.tracks]
    assert "Chords" not in names
    assert "Drums" in names
    assert [t.name for t in song("house without effects").metadata.tracks] == ["Drums", "Bass", "Chords", "Lead", "Pad"]
    with pytest.raises(composer.InvalidSongRequest):
        composer.validate(composer.SongRequest("trap no drums no bass no chords no lead"))


@pytest.mark.parametrize(
    ("prompt", "key"),
    [("Trap Beat In Eb", "Eb minor"), ("House Key Of F#", "F# minor"), ("Pop Song In D", "D major")],
)
def test_title_case_prompts_name_the_key(prompt: str, key: str) -> None:
    meta = song(prompt).metadata
    assert meta.key == key
    assert meta.sources["key"] == "prompt"
    assert meta.unknown_words == []


@pytest.mark.parametrize(
    ("text", "name"),
    [("E flat minor", "Eb minor"), ("F sharp major", "F# major"), ("b flat dorian", "Bb dorian"), ("Eb", "Eb major")],
)
def test_the_request_key_may_spell_accidentals_as_words(text: str, name: str) -> None:
    key = parse_key(text)
    assert key is not None
    assert key.name == name
    assert song("trap", key=text).metadata.key == name


@pytest.mark.parametrize(("symbol", "tones"), [("A7sus4", {9, 2, 4, 7}), ("Gsus", {7, 0, 2}), ("Cadd2", {0, 4, 7, 2})])
def test_more_chord_spellings(symbol: str, tones: set[int]) -> None:
    chord = parse_chord_symbol(symbol)
    assert chord is not None
    assert set(chord.tones) == tones
    assert song(f"pop {symbol} D").metadata.chord_progression == [symbol, "D"]


@pytest.mark.parametrize(
    ("prompt", "chords"),
    [
        ("trap in Eb minor, i VI III VII", ["Ebm", "Cb", "Gb", "Db"]),  # not B: each letter names one degree
        ("pop in F# major, I IV V vii\u00b0", ["F#", "B", "C#", "E#dim"]),
        ("pop in C major, I IV V vii\u00b0", ["C", "F", "G", "Bdim"]),
    ],
)
def test_chords_are_spelled_in_the_key(prompt: str, chords: list[str]) -> None:
    meta = song(prompt).metadata
    assert meta.chord_progression == chords
    for symbol in chords:
        chord = parse_chord_symbol(symbol)
        assert chord is not None
        assert set(chord.tones) <= set(meta.scale_pitch_classes)


def test_tracks_the_form_leaves_silent_are_left_out_unless_asked_for() -> None:
    drop = composer.compose(composer.SongRequest(prompt="dubstep drop wobble bass 140", bars=8, seed=1))
    assert drop.metadata.tracks
    assert all(track.note_count > 0 for track in drop.metadata.tracks)
    named = [t.name for t in mido.MidiFile(file=io.BytesIO(drop.midi)).tracks[1:]]
    assert named == [t.name for t in drop.metadata.tracks], "the file and the metadata list the same tracks"
    asked = composer.compose(composer.SongRequest(prompt="dubstep drop with a warm pad, 140", bars=8, seed=1))
    assert "Pad" in [t.name for t in asked.metadata.tracks], "an instrument the prompt names stays"


def test_a_caption_s_plain_english_is_no_unknown_word_and_its_time_signature_is_read() -> None:
    caption = (
        "A meditative classical piece in D minor. The time signature is 3/4 and the piece is set at an Andante tempo, "
        "featuring piano throughout."
    )
    meta = song(caption).metadata
    assert meta.time_signature == "3/4"
    assert 76 <= meta.bpm <= 108
    assert set(meta.unknown_words) <= {"meditative", "classical"}  # musical words it does not act on yet (#12)
    assert song("A rock song with drums in a 4/4 time signature").metadata.time_signature == "4/4"


@pytest.mark.parametrize(
    ("caption", "program"),
    [
        ("A baroque piece with oboe", 68),
        ("clarinet melody over soft pads", 71),
        ("a folk tune with banjo and fiddle", 105),
        ("a folk tune with banjo and fiddle", 110),
        ("honky-tonk piano boogie", 3),
        ("heavy riffs on overdriven guitar", 29),
        ("distortion guitar power chords", 30),
        ("a string ensemble swells", 48),
        ("fretless bass grooves", 35),
        ("timpani rolls and french horns", 47),
        ("timpani rolls and french horns", 60),
        ("a waltz on the accordion", 21),
        ("blues harmonica", 22),
        ("a trombone solo", 57),
        ("viola and contrabass", 41),
        ("viola and contrabass", 43),
    ],
)
def test_a_general_midi_instrument_named_in_plain_words_is_played_by_its_program(caption: str, program: int) -> None:
    meta = song(caption).metadata
    assert program in {track.program for track in meta.tracks}
    named = {"oboe", "clarinet", "banjo", "fiddle", "honky", "tonk", "overdriven", "distortion", "ensemble", "fretless"}
    assert not named & set(meta.unknown_words)


@pytest.mark.parametrize(
    ("prompt", "programs", "drums"),
    [
        ("A joyful children's song with glockenspiel, ukulele and whistle in F major", {9, 24, 78}, False),
        ("A Latin jazz tune with congas, piano, trumpet and acoustic bass in C minor", {0, 56, 32}, True),
        ("A Christmas song featuring sleigh bells, celesta and string ensemble", {8, 48}, True),
        ("lofi with rhodes, upright bass, vinyl crackle and brushes", {4, 32, 96}, True),
    ],
)
def test_possessives_hand_percussion_and_instruments_gm_lacks_are_read(
    prompt: str, programs: set[int], drums: bool
) -> None:
    meta = song(prompt).metadata
    assert programs <= {track.program for track in meta.tracks if not track.is_drum}
    assert any(track.is_drum for track in meta.tracks) == drums
    assert meta.unknown_words == []
