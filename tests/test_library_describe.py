"""What the library knows an item by (library.describe): real composed songs, their MIDI re-written as a
transcriber writes it, and their audio rendered by FluidSynth."""

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import mido
import numpy as np
import numpy.typing as npt
import pretty_midi
import pytest

from composer import ComposedSong, SongRequest, compose
from library import describe as describing
from library.describe import SOUND_DIMENSIONS, TEXT_DIMENSIONS, Description, describe, embed_query, embed_texts
from library.query import parse_query
from library.ranking import rank
from renderers.fluidsynth import FluidSynthRenderer
from renderers.midi import parse_midi
from renderers.soundfonts import DEFAULT_SOUNDFONT_DIRS, SoundFontLibrary

# Prompts naming a genre and nothing else, so each seed picks its own key, tempo within the genre and instruments.
GENRE_PROMPTS = {
    "trap": "trap beat",
    "house": "house track",
    "jazz": "jazz",
    "waltz": "a waltz",
    "metal": "heavy metal",
    "reggae": "roots reggae",
    "drum and bass": "drum and bass",
    "ambient": "ambient",
}
SEEDS = (1, 2, 3)
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def composed(prompt: str, seed: int = 0, seconds: float = 30) -> ComposedSong:
    return compose(SongRequest(prompt, seed=seed, seconds=seconds))


def described(song: ComposedSong, prompt: str, audio: tuple[npt.NDArray[np.float32], int] | None = None) -> Description:
    return describe("compose", prompt, song.metadata.to_dict(), song.midi, audio)


def as_transcribed(midi: bytes) -> bytes:
    """The song's notes as a transcriber writes them: one piano track, in seconds at the default 120 BPM, no meter."""
    source = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    written = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [note for instrument in source.instruments if not instrument.is_drum for note in instrument.notes]
    written.instruments.append(piano)
    buffer = io.BytesIO()
    written.write(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def genre_songs() -> dict[tuple[str, int], Description]:
    return {
        (genre, seed): described(composed(prompt, seed), prompt)
        for genre, prompt in GENRE_PROMPTS.items()
        for seed in SEEDS
    }


@pytest.fixture(scope="module")
def renderer() -> Iterator[FluidSynthRenderer]:
    with FluidSynthRenderer(SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS).resolve("TimGM6mb"), 22050) as renderer:
        yield renderer


def rendered(renderer: FluidSynthRenderer, song: ComposedSong) -> tuple[npt.NDArray[np.float32], int]:
    audio = renderer.render(parse_midi(song.midi), stems=False)
    return audio.mix, audio.sample_rate


def test_a_composed_song_is_described_by_its_prompt_and_metadata() -> None:
    prompt = "dark trap beat with 808 bass, 140 BPM, F minor"
    description = described(composed(prompt), prompt)
    assert description.text.startswith(prompt)
    for words in ("trap", "F minor", "140 bpm", "fast", "TR-808 Kit", "Synth Bass 1", "intro", "chorus"):
        assert words in description.text
    assert (description.key, description.bpm, description.meter) == ("F minor", 140, "4/4")
    assert description.text_vector.dtype == np.float32
    assert description.text_vector.shape == (TEXT_DIMENSIONS,)
    assert np.linalg.norm(description.text_vector) == pytest.approx(1, abs=1e-5)
    assert description.sound_vector is not None
    assert description.sound_vector.dtype == np.float32
    assert description.sound_vector.shape == (SOUND_DIMENSIONS,)
    assert np.linalg.norm(description.sound_vector) == pytest.approx(1, abs=1e-5)


def test_a_songs_nearest_neighbour_by_sound_is_of_its_genre_more_often_than_not(
    genre_songs: dict[tuple[str, int], Description],
) -> None:
    names = list(genre_songs)
    vectors = np.stack([genre_songs[name].sound_vector for name in names])  # type: ignore[misc]
    same = []
    for row, (genre, _) in enumerate(names):
        nearest = next(other for other, _ in rank(vectors[row], vectors, limit=2) if other != row)
        same.append(names[nearest][0] == genre)
    assert sum(same) > 0.75 * len(names), [name for name, hit in zip(names, same, strict=True) if not hit]
    # Every genre on its own, too: more than half its songs find their own genre first.
    for genre in GENRE_PROMPTS:
        assert sum(hit for (name, _), hit in zip(names, same, strict=True) if name == genre) >= 2, genre


def test_text_search_ranks_the_songs_the_words_describe_first(genre_songs: dict[tuple[str, int], Description]) -> None:
    dark = described(composed("dark trap beat with 808s"), "dark trap beat with 808s")
    bright = described(composed("bright house with piano"), "bright house with piano")
    texts = np.stack([dark.text_vector, bright.text_vector])
    assert rank(embed_query("dark trap"), texts, limit=2)[0][0] == 0
    assert rank(embed_query("bright house"), texts, limit=2)[0][0] == 1
    names = list(genre_songs)
    library = np.stack([genre_songs[name].text_vector for name in names])
    for words, genre in (("trap", "trap"), ("waltz", "waltz"), ("reggae", "reggae"), ("heavy metal", "metal")):
        assert names[rank(embed_query(words), library, limit=1)[0][0]][0] == genre, words


def test_a_searched_key_is_the_described_key_in_any_spelling() -> None:
    song = composed("lofi hip hop in G minor")
    assert described(song, "lofi hip hop in G minor").key == parse_query("chill beat in Gm", NOW).key
    sharp = describe("compose", "", {"key": "A# minor"}, None, None)
    assert sharp.key == parse_query("Bb minor", NOW).key == "Bb minor"


def test_a_transcription_has_its_key_tempo_and_sound_told_from_its_notes() -> None:
    song = composed("boom bap in D minor, 90 bpm", seconds=40)
    original = described(song, "")
    transcribed = describe("transcribe", "", {}, as_transcribed(song.midi), None)
    assert transcribed.key == "D minor"
    assert transcribed.bpm is not None
    # An onset tempo may be the beat's half or double; the MIDI file's 120 BPM is no part of it.
    assert min(abs(transcribed.bpm * factor - 90) for factor in (0.5, 1, 2)) <= 2
    assert transcribed.meter is None
    assert "Acoustic Grand Piano" not in transcribed.text  # the transcriber's program says nothing of the sound
    other = described(composed("techno 132 in F# minor"), "")
    assert original.sound_vector is not None
    assert transcribed.sound_vector is not None
    assert other.sound_vector is not None
    assert transcribed.sound_vector @ original.sound_vector > transcribed.sound_vector @ other.sound_vector


def test_audio_alone_is_described_by_its_chroma_tempo_and_spectrum(renderer: FluidSynthRenderer) -> None:
    trap = composed("trap beat in G minor, 140 bpm", seconds=12)
    jazz = composed("jazz piano trio in Bb major, 120 bpm", seconds=12)
    trap_audio = describe("separate", "", {}, None, rendered(renderer, trap))
    jazz_audio = describe("separate", "", {}, None, rendered(renderer, jazz))
    assert (trap_audio.key, jazz_audio.key) == ("G minor", "Bb major")
    assert trap_audio.bpm == pytest.approx(140, abs=2)
    assert trap_audio.sound_vector is not None
    assert jazz_audio.sound_vector is not None
    # A render keeps its MIDI and its audio: it is closer to the audio it made than to another song's.
    trap_render = describe("render", "", {}, trap.midi, rendered(renderer, trap))
    assert trap_render.sound_vector is not None
    assert trap_render.sound_vector @ trap_audio.sound_vector > trap_render.sound_vector @ jazz_audio.sound_vector


def test_nothing_to_hear_is_no_sound_vector_and_unreadable_midi_is_refused() -> None:
    assert describe("generate_audio", "a prompt", {}, None, None).sound_vector is None
    assert describe("separate", "", {}, None, (np.zeros((0, 2), np.float32), 44100)).sound_vector is None
    with pytest.raises(ValueError, match="MIDI"):
        describe("compose", "", {}, b"RIFF not a midi file", None)
    with pytest.raises(ValueError, match="MIDI"):
        describe("compose", "", {}, composed("pop").midi[:200], None)  # cut off inside an event


def test_the_midi_reader_reads_what_mido_writes_running_status_included() -> None:
    track = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=400_000),
        mido.MetaMessage("time_signature", numerator=6, denominator=8),
        mido.Message("program_change", program=33, channel=1),
        mido.Message("note_on", note=40, velocity=90, channel=1, time=0),
        mido.Message("note_on", note=40, velocity=0, channel=1, time=240),  # running status, a zero-velocity off
        mido.Message("note_on", note=36, velocity=100, channel=9, time=0),
        mido.Message("note_off", note=36, velocity=0, channel=9, time=480),
    ])  # fmt: skip
    file = mido.MidiFile(ticks_per_beat=480, tracks=[track])
    buffer = io.BytesIO()
    file.save(file=buffer)
    data = buffer.getvalue()
    assert bytes([0x91, 40, 90, 0x81, 0x70, 40, 0]) in data  # mido writes the second note-on by running status
    notes = describing._read_midi(data)
    assert notes.pitch.tolist() == [40, 36]
    assert notes.programs.tolist() == [33, -1]
    assert notes.start.tolist() == pytest.approx([0, 0.2])
    assert notes.end.tolist() == pytest.approx([0.2, 0.6])
    assert (notes.tempo, notes.meter) == (150, "6/8")
    song = composed("funk with slap bass and brass")
    read = describing._read_midi(song.midi)
    instruments = pretty_midi.PrettyMIDI(io.BytesIO(song.midi)).instruments
    expected = sorted((note.pitch, round(note.start, 4)) for instrument in instruments for note in instrument.notes)
    assert sorted(zip(read.pitch.tolist(), np.round(read.start, 4).tolist(), strict=True)) == expected


def test_the_text_model_loads_once_however_many_threads_ask() -> None:
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(describing._wordllama())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(result) for result in results}) == 1
    assert embed_texts([]).shape == (0, TEXT_DIMENSIONS)
    assert not embed_query("   ").any()
