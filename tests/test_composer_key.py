"""The notes establish the key the composer chose: music21's key analysis (the one MidiCaps' pipeline names its
captions' keys by) agrees with it, and songs start and end at home; the MIDI read back with mido and music21."""

import io
import tempfile
from functools import cache

import mido
import music21
import pytest
from midi_notes import notes

import composer
from composer import keyfinding
from composer.score import Part
from composer.theory import opening_on_the_tonic, parse_key

# Captions as MidiCaps writes them, major and minor, sharps and flats, across the genres' progressions.
CAPTIONS = (
    "A melodic pop song with piano, electric bass, synth lead and drums, in E minor with a 4/4 time signature.",
    "A calm ambient piece featuring synth pad and electric piano, set in Ab major at an Adagio tempo.",
    "An energetic house track with synth bass, piano and drums in G minor; the tempo is 124 bpm.",
    "A dark trap beat with synth bass and drums, in C# minor, 4/4, at 140 bpm.",
    "A happy lofi piece with electric piano, acoustic bass and drums in D major at a slow tempo.",
    "A drum and bass track with synth pad, synth bass and drums, set in Bb minor at a Presto tempo.",
)
SEEDS = (1, 3)  # seeds whose genre progressions leaned to the relative or subdominant key before


BAR = 4 * 480


@cache
def song(prompt: str, seed: int = 0, bars: int | None = None) -> composer.ComposedSong:
    return composer.compose(composer.SongRequest(prompt, seed=seed, bars=bars))


def music21_key(midi: bytes) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile(suffix=".mid") as file:
        file.write(midi)
        file.flush()
        found = music21.converter.parse(file.name).analyze("key")
    return found.tonic.pitchClass, found.mode


def sounding_in_bar(midi: bytes, track_name: str, bar: int) -> set[int]:
    """Pitch classes of the named track's notes that sound in the bar (beyond a strum's or a nudge's few ticks)."""
    parsed = mido.MidiFile(file=io.BytesIO(midi))
    track = next(track for track in parsed.tracks if track.name == track_name)
    now, started, heard = 0, {}, set()
    for message in track:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            started[message.note] = now
        elif message.type in ("note_on", "note_off") and message.note in started:
            start = started.pop(message.note)
            if start < (bar + 1) * BAR - 30 and now > bar * BAR + 30:
                heard.add(message.note % 12)
    return heard


def test_music21_finds_the_key_the_composer_chose() -> None:
    agreed = []
    for prompt in CAPTIONS:
        for seed in SEEDS:
            result = song(prompt, seed)
            key = parse_key(result.metadata.key)
            assert key is not None
            agreed.append(music21_key(result.midi) == (key.tonic, key.mode))
    assert sum(agreed) / len(agreed) >= 0.8, agreed


@pytest.mark.parametrize("prompt", ["pop in A minor", "pop in F major", "lofi hip hop in Eb major", "trap in G minor"])
@pytest.mark.parametrize("seed", [0, 2])
def test_a_genre_song_starts_and_ends_on_the_tonic(prompt: str, seed: int) -> None:
    result = song(prompt, seed, bars=16)
    key = parse_key(result.metadata.key)
    assert key is not None
    fifth = key.scale[4]
    bass = notes(result.midi, "808" if prompt.startswith("trap") else "Bass")
    assert bass[0][1] % 12 == bass[-1][1] % 12 == key.tonic
    last_bar = sounding_in_bar(result.midi, "Chords", 15)
    assert {key.tonic, key.scale[2], fifth} <= last_bar <= {key.tonic, key.scale[2], fifth, key.scale[6], key.scale[1]}
    lead = notes(result.midi, "Lead")
    assert lead[0][1] % 12 == key.tonic
    assert lead[-1][1] % 12 in (key.tonic, fifth)
    assert result.metadata.chord_progression[0].startswith(key.tonic_name)


def test_a_progression_without_the_tonic_chord_takes_it_in_place_of_a_tonic_substitute() -> None:
    assert opening_on_the_tonic((3, 4, 2, 5)) == (0, 5, 3, 4)  # IV V iii vi -> I vi IV V: V leads home
    assert opening_on_the_tonic((5, 6, 0, 0)) == (0, 0, 5, 6)
    assert opening_on_the_tonic((0, 4, 5, 3)) == (0, 4, 5, 3)
    assert opening_on_the_tonic((1, 3, 6)) == (0, 3, 6)  # no substitute: the first chord becomes the tonic


def test_the_prompts_progression_is_played_as_written_to_the_last_bar() -> None:
    result = song("pop in G major, I V vi IV", bars=8)
    assert result.metadata.chord_progression == ["G", "D", "Em", "C"]
    assert result.metadata.sections[-1].bars == 2  # the outro plays the progression's first two chords
    assert sounding_in_bar(result.midi, "Chords", 7) == {2, 6, 9}  # D


@pytest.mark.parametrize("prompt", ["house in D dorian", "pop in E phrygian", "ambient in F lydian"])
def test_modes_keep_their_scale_and_open_on_their_tonic(prompt: str) -> None:
    result = song(prompt, 1)
    key = parse_key(result.metadata.key)
    assert key is not None
    assert key.mode == prompt.split()[-1]
    scale = set(result.metadata.scale_pitch_classes)
    for track in ("Bass", "Chords", "Lead"):
        assert all(pitch % 12 in scale for _, pitch in notes(result.midi, track)), track
    assert result.metadata.chord_progression[0].startswith(key.tonic_name)


def test_the_same_request_composes_the_same_bytes() -> None:
    prompt = CAPTIONS[0]
    assert composer.compose(composer.SongRequest(prompt, seed=3)).midi == song(prompt, 3).midi


# Loops that dwell on the relative major's chords or the subdominant, in genres whose progressions do (rock's
# i-bVI-bVII, funk's i-IV vamp, trance, metal), with and without an accompaniment to hold a pedal.
LEANING = (
    "Rock song in A minor, 4/4, fast, with overdriven guitar, distortion guitar, electric bass and drums.",
    "A funk song featuring slap bass, clean electric guitar, alto saxophone and drums in E minor, 108 bpm.",
    "A techno piece with synth bass, synth drum and drums in G minor at 130 BPM; hypnotic and dark.",
    "This is a metal song with distortion guitar, electric bass and drums, in D minor at Presto.",
    "A classical waltz in Ab major with piano, violin and cello; Allegretto; romantic and elegant.",
    "A trance song in A minor featuring synth lead, synth pad, synth bass and drums, Allegro, euphoric.",
)


@pytest.mark.parametrize("prompt", LEANING)
def test_a_loop_that_leans_to_another_key_is_still_heard_in_its_own(prompt: str) -> None:
    for seed in range(3):
        result = song(prompt, seed)
        key = parse_key(result.metadata.key)
        assert key is not None
        assert music21_key(result.midi) == (key.tonic, "minor" if key.minor_like else "major"), seed


def test_the_key_profiles_hear_a_scale_in_its_key_and_a_relative_major_loop_in_the_relative_major() -> None:
    c_major_scale = [2.0 if pc in (0, 2, 4, 5, 7, 9, 11) else 0.0 for pc in range(12)]
    c_major_scale[0] = c_major_scale[7] = 4.0
    a_minor = parse_key("A minor")
    c_major = parse_key("C major")
    assert a_minor is not None
    assert c_major is not None
    assert keyfinding.states(c_major_scale, c_major)
    assert not keyfinding.states(c_major_scale, a_minor)
    for profile in keyfinding.PROFILES:
        assert keyfinding.heard(c_major_scale, profile)[0][1:] == (0, "major")


def test_a_pedal_stays_in_the_scale_and_makes_the_key_heard() -> None:
    a_minor = parse_key("A minor")
    assert a_minor is not None
    loop = Part()  # F, G and C major triads, a bar each: the relative major's IV, V and I
    for bar, triad in enumerate(((53, 57, 60), (55, 59, 62), (60, 64, 67)) * 2):
        for pitch in triad:
            loop.note(bar * BAR, BAR - 10, pitch, 80)
    assert not keyfinding.states(keyfinding.durations([loop]), a_minor)
    keyfinding.add_pedal(loop, a_minor, BAR, 6)
    keyfinding.add_pedal(loop, a_minor, BAR, 6, (2,))
    assert {pitch % 12 for _, _, pitch, _ in loop.notes} <= set(a_minor.scale)
    assert keyfinding.states(keyfinding.durations([loop]), a_minor)
