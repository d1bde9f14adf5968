"""Tests of renderers/: MIDI parsing and validation, the SoundFont library, and real FluidSynth rendering."""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import pytest

from renderers import (
    DEFAULT_SOUNDFONT_DIRS,
    DEFAULT_TAIL_SECONDS,
    SILENCE_DBFS,
    EventKind,
    FluidSynthRenderer,
    InvalidMidi,
    MidiTooLarge,
    MidiTooLong,
    RenderError,
    SoundFont,
    SoundFontLibrary,
    SoundFontLoadError,
    SoundFontNotFound,
    parse_midi,
)

SF2_DIR = DEFAULT_SOUNDFONT_DIRS[0]
TICKS = 480
PEAK = 10 ** (-1 / 20)


@dataclass(frozen=True)
class Part:
    name: str | None
    channel: int
    program: int
    notes: Sequence[int]


BAND = (
    Part("808/Bass", 0, 38, (36, 43)),
    Part("Lead", 1, 80, (72, 76, 79)),
    Part("Drums", 9, 0, (36, 38, 42)),
)


def song(parts: Sequence[Part] = BAND, *, bpm: float = 120, bars: int = 2) -> bytes:
    """A type 1 file: a conductor track, then one track per part playing quarter notes for `bars` bars."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    end = bars * 4 * TICKS
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)),
                mido.MetaMessage("end_of_track", time=end),
            ]
        )
    )
    for part in parts:
        track = mido.MidiTrack()
        if part.name is not None:
            track.append(mido.MetaMessage("track_name", name=part.name))
        track.append(mido.Message("program_change", channel=part.channel, program=part.program))
        for beat in range(bars * 4):
            note = part.notes[beat % len(part.notes)]
            track.append(mido.Message("note_on", channel=part.channel, note=note, velocity=100))
            track.append(mido.Message("note_off", channel=part.channel, note=note, time=TICKS))
        track.append(mido.MetaMessage("end_of_track"))
        midi.tracks.append(track)
    return to_bytes(midi)


def to_bytes(midi: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def library() -> SoundFontLibrary:
    return SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS)


@pytest.fixture(scope="module")
def renderer(library: SoundFontLibrary) -> Iterator[FluidSynthRenderer]:
    with FluidSynthRenderer(library.resolve("FluidR3_GM")) as renderer:
        yield renderer


# --- parsing ---------------------------------------------------------------------------------------------


def test_duration_is_bars_at_tempo() -> None:
    performance = parse_midi(song(bpm=100, bars=3))
    assert performance.duration_seconds == pytest.approx(3 * 4 * 60 / 100)
    assert performance.midi_type == 1
    assert performance.ticks_per_beat == TICKS


def test_stem_names_are_sanitised_and_deduplicated() -> None:
    parts = [
        Part("808/Bass", 0, 38, (36,)),
        Part("Lead", 1, 80, (72,)),
        Part("lead", 2, 81, (74,)),
        Part(None, 3, 0, (60,)),
        Part("../..", 4, 0, (62,)),
    ]
    names = [stem.name for stem in parse_midi(song(parts)).stems]
    assert names == ["808_Bass", "Lead", "lead_2", "track_5", "_"]


def test_tracks_without_notes_make_no_stem_but_lend_their_channel_state() -> None:
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    midi.tracks.append(mido.MidiTrack([mido.Message("program_change", channel=0, program=33)]))
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.MetaMessage("track_name", name="Bass"),
                mido.Message("note_on", note=40, velocity=90, time=10),
                mido.Message("note_off", note=40, time=TICKS),
            ]
        )
    )
    (stem,) = parse_midi(to_bytes(midi)).stems
    assert stem.name == "Bass"
    assert [event.kind for event in stem.events] == [
        EventKind.PROGRAM_CHANGE,
        EventKind.NOTE_ON,
        EventKind.NOTE_OFF,
    ]
    assert stem.events[0].data1 == 33


def test_type_0_splits_by_channel() -> None:
    track = mido.MidiTrack([mido.Message("program_change", channel=2, program=0)])
    for channel in (9, 2, 5):
        track.append(mido.Message("note_on", channel=channel, note=60, velocity=80))
        track.append(mido.Message("note_off", channel=channel, note=60, time=TICKS))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS, tracks=[track])
    names = [stem.name for stem in parse_midi(to_bytes(midi)).stems]
    assert names == ["Acoustic Grand Piano", "channel_6", "Drums"]


@pytest.mark.parametrize(
    "data",
    [b"", b"not a midi file", b"MThd\x00\x00\x00\x06\x00\x01", song()[:40], b"RIFF" + bytes(100)],
)
def test_garbage_is_invalid_midi(data: bytes) -> None:
    with pytest.raises(InvalidMidi):
        parse_midi(data)


def test_type_2_and_files_with_nothing_to_play_are_refused_with_a_reason() -> None:
    notes = [mido.Message("note_on", note=60, velocity=80), mido.Message("note_off", note=60, time=TICKS)]
    with pytest.raises(InvalidMidi, match="type 2"):
        parse_midi(to_bytes(mido.MidiFile(type=2, ticks_per_beat=TICKS, tracks=[mido.MidiTrack(notes)])))
    with pytest.raises(InvalidMidi, match="nothing to play"):
        parse_midi(to_bytes(mido.MidiFile(type=1, ticks_per_beat=TICKS)))
    with pytest.raises(InvalidMidi, match="nothing to play"):
        parse_midi(to_bytes(mido.MidiFile(type=1, ticks_per_beat=TICKS, tracks=[mido.MidiTrack()])))


def test_huge_delta_is_too_long_and_fails_fast() -> None:
    track = mido.MidiTrack(
        [
            mido.Message("note_on", note=60, velocity=100),
            mido.Message("note_off", note=60, time=77 * 3600 * 2 * TICKS),
        ]
    )
    data = to_bytes(mido.MidiFile(type=0, ticks_per_beat=TICKS, tracks=[track]))
    with pytest.raises(MidiTooLong) as caught:  # before any audio is made
        parse_midi(data)
    assert caught.value.seconds == pytest.approx(77 * 3600, rel=1e-3)
    assert caught.value.limit_seconds == 600.0
    assert isinstance(caught.value, ValueError)


def test_too_many_bytes_is_too_large() -> None:
    with pytest.raises(MidiTooLarge):
        parse_midi(song(), max_bytes=100)


# --- SoundFont library -------------------------------------------------------------------------------------


def test_library_lists_debian_fonts_once_and_defaults_to_fluidr3(library: SoundFontLibrary) -> None:
    assert {"FluidR3_GM", "TimGM6mb"} <= set(library.names())
    assert library.resolve(None).name == "FluidR3_GM"
    assert library.resolve("").path == SF2_DIR / "FluidR3_GM.sf2"


@pytest.mark.parametrize("name", ["timgm6mb", "TIMGM6MB.SF2", "TimGM6mb.sf2", "timgm6mb.sf3"])
def test_fonts_are_found_by_name_in_any_case_with_or_without_their_suffix(library: SoundFontLibrary, name: str) -> None:
    assert library.resolve(name).name == "TimGM6mb"
    assert SoundFontLibrary([SF2_DIR], default=name).default == "TimGM6mb"


def test_symlinked_fonts_are_listed_once(tmp_path: Path) -> None:
    shutil.copy(SF2_DIR / "TimGM6mb.sf2", tmp_path / "Small.sf2")
    (tmp_path / "alias.sf2").symlink_to(tmp_path / "Small.sf2")
    (tmp_path / "notes.txt").write_text("not a font")
    library = SoundFontLibrary([tmp_path])
    assert library.names() == ["Small"]
    assert library.resolve(None).name == "Small"


def test_unknown_font_lists_the_available_ones(library: SoundFontLibrary) -> None:
    with pytest.raises(SoundFontNotFound) as caught:
        library.resolve("/etc/passwd")
    assert caught.value.name == "/etc/passwd"
    assert "TimGM6mb" in caught.value.available
    assert isinstance(caught.value, LookupError)


def test_garbage_font_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "Broken.sf2").write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST" + bytes(64))
    font = SoundFontLibrary([tmp_path]).resolve("Broken")
    with pytest.raises(SoundFontLoadError):
        FluidSynthRenderer(font)


# --- rendering ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bpm", [120, 100])
def test_without_a_tail_the_rendered_length_is_exact(renderer: FluidSynthRenderer, bpm: int) -> None:
    audio = renderer.render(parse_midi(song(bpm=bpm, bars=2)), stems=False, tail_seconds=0.0)
    assert audio.mix.shape == (round(2 * 4 * 60 / bpm * 44100), 2)
    assert audio.stems == {}


@pytest.mark.parametrize("stems", [True, False])
def test_a_render_plays_its_tail_down_to_silence(renderer: FluidSynthRenderer, stems: bool) -> None:
    performance = parse_midi(song(bars=2))
    played = round(performance.duration_seconds * 44100)
    audio = renderer.render(performance, stems=stems)
    tail = audio.mix[played:]
    assert 0.1 * 44100 < len(tail) < DEFAULT_TAIL_SECONDS * 44100
    # Sounding up to its last frame, which is where it falls below -90 dBFS.
    assert np.max(np.abs(tail[-1])) >= 10 ** (SILENCE_DBFS / 20)
    assert np.max(np.abs(tail[-10:])) < 10 ** (-80 / 20)
    assert all(stem.shape == audio.mix.shape for stem in audio.stems.values())
    # A limit applies.
    assert len(renderer.render(performance, stems=stems, tail_seconds=0.05).mix) == played + round(0.05 * 44100)


def test_mix_is_normalised_float_audio_and_stems_add_up(renderer: FluidSynthRenderer) -> None:
    audio = renderer.render(parse_midi(song()))
    assert audio.mix.dtype == np.float32
    assert np.isfinite(audio.mix).all()
    peak = float(np.max(np.abs(audio.mix)))
    assert peak <= 1.0
    assert peak == pytest.approx(PEAK, rel=1e-4)
    assert audio.peak_dbfs == pytest.approx(-1.0, abs=1e-3)
    assert audio.gain > 0
    assert list(audio.stems) == ["808_Bass", "Lead", "Drums"]
    for stem in audio.stems.values():
        assert stem.shape == audio.mix.shape
        assert stem.dtype == np.float32
        assert np.max(np.abs(stem)) > 0.01
    np.testing.assert_allclose(sum(audio.stems.values()), audio.mix, rtol=0, atol=1e-5)


def test_rendering_is_bit_exact_and_the_mix_barely_depends_on_stems_flag(renderer: FluidSynthRenderer) -> None:
    performance = parse_midi(song())
    first = renderer.render(performance)
    second = renderer.render(performance)
    mix_only = renderer.render(performance, stems=False)
    assert np.array_equal(first.mix, second.mix)
    assert all(np.array_equal(first.stems[name], second.stems[name]) for name in first.stems)
    assert np.array_equal(mix_only.mix, renderer.render(performance, stems=False).mix)
    # Without stems, tracks share synths as in one-synth renderers (the CLI): voices of different tracks
    # interact a little inside FluidSynth, so the mix is close to, not equal to, the sum of solo renders.
    played = min(len(first.mix), len(mix_only.mix))
    difference = np.sqrt(np.mean((first.mix[:played] - mix_only.mix[:played]) ** 2)) / np.sqrt(np.mean(first.mix**2))
    assert difference < 0.02
    assert abs(len(first.mix) - len(mix_only.mix)) < 0.05 * 44100  # their tails fade alike


def test_midi_without_notes_renders_silence(renderer: FluidSynthRenderer) -> None:
    track = mido.MidiTrack([mido.MetaMessage("end_of_track", time=2 * TICKS)])
    performance = parse_midi(to_bytes(mido.MidiFile(type=1, ticks_per_beat=TICKS, tracks=[track])))
    audio = renderer.render(performance)
    assert audio.mix.shape == (44100, 2)
    assert not audio.mix.any()
    assert audio.stems == {}
    assert audio.gain == 1.0
    assert audio.peak_dbfs == -math.inf


@pytest.mark.parametrize("sample_rate", [22050, 48000])
def test_timgm6mb_renders_at_other_sample_rates(library: SoundFontLibrary, sample_rate: int) -> None:
    with FluidSynthRenderer(library.resolve("TimGM6mb"), sample_rate) as renderer:
        audio = renderer.render(parse_midi(song(bars=1)))
    assert audio.sample_rate == sample_rate
    assert 2 * sample_rate < audio.mix.shape[0] < (2 + DEFAULT_TAIL_SECONDS) * sample_rate  # 2 s played, its tail
    assert audio.mix.shape[1] == 2
    assert np.max(np.abs(audio.mix)) == pytest.approx(PEAK, rel=1e-4)


@pytest.mark.parametrize("sample_rate", [7999, 96001, 0, 44100.0])
def test_out_of_range_sample_rate_is_rejected(library: SoundFontLibrary, sample_rate: int) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        FluidSynthRenderer(library.resolve("TimGM6mb"), sample_rate)


def test_bad_tail_is_rejected(renderer: FluidSynthRenderer) -> None:
    with pytest.raises(ValueError, match="tail_seconds"):
        renderer.render(parse_midi(song()), tail_seconds=-1.0)


def test_missing_font_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(SoundFontLoadError):
        FluidSynthRenderer(SoundFont("Gone", tmp_path / "Gone.sf2"))


def test_parallel_and_serial_rendering_agree(library: SoundFontLibrary) -> None:
    performance = parse_midi(song())
    font = library.resolve("TimGM6mb")
    with FluidSynthRenderer(font, threads=1) as serial, FluidSynthRenderer(font, threads=3) as parallel:
        assert np.array_equal(serial.render(performance).mix, parallel.render(performance).mix)


def test_closed_renderer_refuses_work(library: SoundFontLibrary) -> None:
    renderer = FluidSynthRenderer(library.resolve("TimGM6mb"))
    renderer.close()
    renderer.close()
    with pytest.raises(RenderError, match="closed"):
        renderer.render(parse_midi(song()))
