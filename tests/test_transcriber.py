"""Tests of transcriber/: the real Basic Pitch ONNX model on audio that FluidSynth renders from the composer's
MIDI, scored against that MIDI; the pipeline's steps around the model, batching, resampling, and the checks of audio
and parameters."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import mido
import mir_eval
import numpy as np
import numpy.typing as npt
import onnxruntime  # type: ignore[import-untyped]
import pytest

import composer
import renderers
from transcriber import (
    MODEL_SAMPLE_RATE,
    OUTPUT_BINS,
    WINDOW_FRAMES,
    WINDOW_SAMPLES,
    AudioTooLong,
    InvalidAudio,
    InvalidTranscriptionRequest,
    Note,
    NoteModel,
    TranscriptionParams,
    create_notes,
    default_model,
    finish,
    join_outputs,
    prepare,
    prepare_audio,
    transcribe,
    unwindow,
    window_audio,
    window_count,
)
from transcriber._basic_pitch import drop_overlapping_pitch_bends, model_output_to_notes

RefNote = tuple[float, float, int]
ONSET_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def soundfont() -> renderers.SoundFont:
    return renderers.SoundFontLibrary(renderers.DEFAULT_SOUNDFONT_DIRS).resolve("FluidR3_GM")


@pytest.fixture(scope="module")
def renderer(soundfont: renderers.SoundFont) -> Iterator[renderers.FluidSynthRenderer]:
    with renderers.FluidSynthRenderer(soundfont, 44100) as running:
        yield running


def track_midi(prompt: str, seed: int, track: str) -> bytes:
    """The composer's song for `prompt`, reduced to its tempo track and the track named `track`."""
    song = mido.MidiFile(file=io.BytesIO(composer.compose(composer.SongRequest(prompt, bars=8, seed=seed)).midi))
    reduced = mido.MidiFile(type=1, ticks_per_beat=song.ticks_per_beat)
    reduced.tracks = [song.tracks[0], *(t for t in song.tracks if t.name == track)]
    assert len(reduced.tracks) == 2, f"the composer wrote no {track} track"
    buffer = io.BytesIO()
    reduced.save(file=buffer)
    return buffer.getvalue()


def reference_notes(midi: bytes) -> list[RefNote]:
    sounding: dict[tuple[int, int], float] = {}
    notes: list[RefNote] = []
    now = 0.0
    for message in mido.MidiFile(file=io.BytesIO(midi)):
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding[message.channel, message.note] = now
        elif message.type in ("note_on", "note_off") and (message.channel, message.note) in sounding:
            notes.append((sounding.pop((message.channel, message.note)), now, message.note))
    return notes


def onset_f1(reference: list[RefNote], estimated: list[Note]) -> float:
    """mir_eval's note F1 on onsets (50 ms) and pitch, offsets ignored."""
    ref_intervals = np.array([[start, end] for start, end, _ in reference])
    est_intervals = np.array([[note.start, note.end] for note in estimated]).reshape(-1, 2)
    ref_pitches = mir_eval.util.midi_to_hz(np.array([pitch for *_, pitch in reference]))
    est_pitches = mir_eval.util.midi_to_hz(np.array([note.pitch for note in estimated]))
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_pitches, est_intervals, est_pitches, onset_tolerance=ONSET_TOLERANCE, offset_ratio=None
    )
    return float(f1)


def render(midi: bytes, soundfont: renderers.SoundFont, sample_rate: int) -> npt.NDArray[np.float32]:
    with renderers.FluidSynthRenderer(soundfont, sample_rate) as renderer:
        return renderer.render(renderers.parse_midi(midi), stems=False).mix


@pytest.mark.parametrize(
    ("prompt", "seed", "track", "minimum_f1"),
    [
        ("upbeat pop in E minor", 1, "Lead", 0.80),
        ("dark techno in A minor", 2, "Lead", 0.80),
        ("upbeat pop in E minor", 2, "Chords", 0.70),
        ("calm piano ballad in C major", 1, "Chords", 0.70),
    ],
)
def test_transcription_matches_the_rendered_midi(
    renderer: renderers.FluidSynthRenderer, prompt: str, seed: int, track: str, minimum_f1: float
) -> None:
    midi = track_midi(prompt, seed, track)
    audio = renderer.render(renderers.parse_midi(midi), stems=False).mix
    assert audio.shape[1] == 2
    transcription = transcribe(audio, 44100)
    assert onset_f1(reference_notes(midi), transcription.notes) >= minimum_f1


@pytest.mark.parametrize("sample_rate", [48000, 8000])
def test_stereo_at_other_rates_is_resampled(soundfont: renderers.SoundFont, sample_rate: int) -> None:
    midi = track_midi("dark techno in A minor", 2, "Lead")  # a low line: whole below 8 kHz audio's 4 kHz band
    audio = render(midi, soundfont, sample_rate)
    prepared = prepare_audio(audio, sample_rate)
    assert prepared.dtype == np.float32
    assert prepared.shape == (int(np.ceil(audio.shape[0] * MODEL_SAMPLE_RATE / sample_rate)),)
    assert onset_f1(reference_notes(midi), transcribe(audio, sample_rate).notes) >= 0.80


def basic_pitchs_own(
    outputs: dict[str, npt.NDArray[np.float32]], params: TranscriptionParams
) -> tuple[bytes, list[tuple[Any, ...]]]:
    """basic-pitch's model_output_to_notes on unwindowed outputs: its MIDI file and its note events."""
    with np.errstate(divide="ignore", invalid="ignore"):
        midi, events = model_output_to_notes(
            {name: output.copy() for name, output in outputs.items()},
            onset_thresh=params.onset_threshold,
            frame_thresh=params.frame_threshold,
            min_note_len=params.minimum_note_frames,
            include_pitch_bends=params.pitch_bends,
            multiple_pitch_bends=params.multiple_pitch_bends,
            melodia_trick=params.melodia_trick,
            midi_tempo=params.midi_tempo,
        )
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue(), events


NOTE_CREATION_PARAMS = [
    TranscriptionParams(),
    TranscriptionParams(onset_threshold=0.3, frame_threshold=0.15, minimum_note_length_ms=40),
    TranscriptionParams(onset_threshold=0.8, frame_threshold=0.5, minimum_note_length_ms=300, pitch_bends=False),
    TranscriptionParams(melodia_trick=False, multiple_pitch_bends=True),
    TranscriptionParams(multiple_pitch_bends=True, midi_tempo=90),
]


@pytest.fixture(scope="module")
def activations(renderer: renderers.FluidSynthRenderer) -> list[dict[str, npt.NDArray[np.float32]]]:
    """The model's unwindowed outputs for songs of several kinds (their pitched tracks together), and random
    activations rounded to a tenth, so that the melodia trick meets many equal values."""
    found = []
    for prompt, seed in [("upbeat funk in E minor", 1), ("calm piano ballad in C major", 2), ("dark techno", 3)]:
        song = mido.MidiFile(file=io.BytesIO(composer.compose(composer.SongRequest(prompt, bars=8, seed=seed)).midi))
        song.tracks = [track for track in song.tracks if track.name != "Drums"]
        buffer = io.BytesIO()
        song.save(file=buffer)
        audio = renderer.render(renderers.parse_midi(buffer.getvalue()), stems=False).mix
        prepared = prepare(audio, 44100)
        found.append(unwindow(default_model().predict(prepared.windows), prepared.samples))
    rng = np.random.default_rng(7)
    frames = 600
    found.append(
        {name: np.round(rng.beta(0.3, 2.0, (frames, bins)), 1).astype(np.float32) for name, bins in OUTPUT_BINS.items()}
    )
    return found


@pytest.mark.parametrize("params", NOTE_CREATION_PARAMS, ids=range(len(NOTE_CREATION_PARAMS)))
def test_notes_and_midi_are_basic_pitchs_own(
    activations: list[dict[str, npt.NDArray[np.float32]]], params: TranscriptionParams
) -> None:
    """transcriber.decoding's faster melodia trick changes no note, no bend and no byte of the MIDI file."""
    for outputs in activations:
        midi, events = basic_pitchs_own(outputs, params)
        transcription = create_notes(outputs, params)
        assert transcription.midi == midi
        expected = sorted(events) if params.multiple_pitch_bends else drop_overlapping_pitch_bends(events)
        assert [(n.start, n.end, n.pitch, n.amplitude, list(n.pitch_bends) or None) for n in transcription.notes] == [
            (float(start), float(end), int(pitch), float(amplitude), [int(b) for b in bends] if bends else None)
            for start, end, pitch, amplitude, bends in expected
        ]
    assert len(create_notes(activations[0], params).notes) > 10


def test_batched_windows_equal_single_calls() -> None:
    # Bit-identical with one thread; with more, onnxruntime splits a batch differently and float sums may differ
    # in the last bit (seen: 1.2e-7), which never changes a note.
    rng = np.random.default_rng(0)
    requests = [prepare_audio(rng.uniform(-0.5, 0.5, frames).astype(np.float32), 22050) for frames in (30_000, 90_000)]
    windows = [window_audio(audio) for audio in requests]
    assert [w.shape[0] for w in windows] == [window_count(audio.shape[0]) for audio in requests] == [1, 3]
    model = default_model()
    together = model.predict(np.concatenate(windows))
    offsets = np.cumsum([0, *(w.shape[0] for w in windows)])
    for index, (audio, own) in enumerate(zip(requests, windows, strict=True)):
        alone = model.predict(own)
        part = {name: output[offsets[index] : offsets[index + 1]] for name, output in together.items()}
        for name, output in alone.items():
            assert output.shape == (own.shape[0], WINDOW_FRAMES, OUTPUT_BINS[name])
            np.testing.assert_allclose(part[name], output, rtol=0, atol=1e-6)
        params = TranscriptionParams()
        assert create_notes(unwindow(part, audio.shape[0]), params) == create_notes(
            unwindow(alone, audio.shape[0]), params
        )
    single_thread = [NoteModel(threads=1, max_batch=batch).predict(windows[1]) for batch in (1, 3)]
    for name in OUTPUT_BINS:
        np.testing.assert_array_equal(single_thread[0][name], single_thread[1][name])


def test_prepare_checks_the_audio_and_cuts_it_into_model_windows() -> None:
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * np.arange(5 * 44100) / 44100)] * 2, axis=1)
    prepared = prepare(stereo, 44100)
    mono = prepare_audio(stereo, 44100)
    assert prepared.samples == mono.shape[0] == 5 * MODEL_SAMPLE_RATE
    assert prepared.windows.dtype == np.float32
    assert prepared.windows.shape == (window_count(prepared.samples), WINDOW_SAMPLES, 1)
    np.testing.assert_array_equal(prepared.windows, window_audio(mono))
    with pytest.raises(AudioTooLong) as caught:
        prepare(stereo, 44100, max_seconds=4.0)
    assert caught.value.field == "audio"


def test_outputs_of_windows_sent_in_parts_finish_as_the_notes_of_one_call() -> None:
    # One thread: onnxruntime's results do not depend on how the windows are batched (see above).
    model = NoteModel(threads=1)
    chord = sum(0.2 * np.sin(2 * np.pi * hz * np.arange(6 * 22050) / 22050) for hz in (220.0, 277.18, 329.63))
    prepared = prepare(chord, 22050)
    assert prepared.windows.shape[0] == 4
    parts = [model.predict(part) for part in np.array_split(prepared.windows, [1, 3])]
    params = TranscriptionParams()
    transcription = finish(prepared, join_outputs(parts), params)
    assert transcription == transcribe(chord, 22050, params, model=model)
    assert sorted({note.pitch for note in transcription.notes}) == [57, 61, 64]


def test_unwindow_rejects_outputs_of_another_length() -> None:
    outputs = default_model().predict(window_audio(np.full(1000, 0.1, dtype=np.float32)))
    with pytest.raises(ValueError, match="'note' has shape"):
        unwindow(outputs, 100_000)


def test_midi_holds_the_notes() -> None:
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * 22050) / 22050)
    transcription = transcribe(tone, 22050)
    assert [note.pitch for note in transcription.notes] == [69]
    assert 0 < transcription.notes[0].velocity <= 127
    midi = mido.MidiFile(file=io.BytesIO(transcription.midi))
    assert sum(message.type == "note_on" and message.velocity > 0 for message in midi) == 1
    assert not transcribe(tone, 22050, TranscriptionParams(pitch_bends=False)).notes[0].pitch_bends
    assert not transcribe(tone, 22050, TranscriptionParams(minimum_frequency=500.0)).notes


SECOND = 44100


@pytest.mark.parametrize(
    ("audio", "error", "reason"),
    [
        (np.full((SECOND, 2), np.nan, dtype=np.float32), InvalidAudio, "NaN or infinite"),
        (np.concatenate([np.full(SECOND, 0.1), [np.inf]]), InvalidAudio, "NaN or infinite"),
        (np.zeros((SECOND, 2), dtype=np.float32), InvalidAudio, "silent"),
        # A constant offset alone is silence too: the model hears a bogus low note in its step.
        (np.full((SECOND, 2), -0.3, dtype=np.float32), InvalidAudio, "silent"),
        (np.full(SECOND, 0.5, dtype=np.float64), InvalidAudio, "silent"),
        (np.zeros((0, 2), dtype=np.float32), InvalidAudio, "empty"),
        (np.zeros(0, dtype=np.float32), InvalidAudio, "empty"),
        (np.full((2, SECOND), 0.1, dtype=np.float32), InvalidAudio, "shape"),
        (np.full((SECOND, 2, 1), 0.1, dtype=np.float32), InvalidAudio, "shape"),
        (np.full(SECOND, 1000, dtype=np.int16), InvalidAudio, "floating point"),
        (np.full(SECOND // 100, 0.1, dtype=np.float32), InvalidAudio, "shorter"),
        (np.full(SECOND * 3, 0.1, dtype=np.float32), AudioTooLong, "longer than the limit of 2.0 s"),
    ],
)
def test_bad_audio_is_refused(audio: npt.NDArray[np.generic], error: type[InvalidAudio], reason: str) -> None:
    with pytest.raises(error, match=reason) as caught:
        transcribe(audio, SECOND, max_seconds=2.0)
    assert caught.value.field == "audio"


@pytest.mark.parametrize("sample_rate", [0, 100, 1_000_000, 44100.0, True])
def test_bad_sample_rate_is_refused(sample_rate: int) -> None:
    with pytest.raises(InvalidTranscriptionRequest) as caught:
        transcribe(np.full(SECOND, 0.1, dtype=np.float32), sample_rate)
    assert caught.value.field == "sample_rate"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"onset_threshold": 1.5}, "onset_threshold"),
        ({"frame_threshold": float("nan")}, "frame_threshold"),
        ({"minimum_note_length_ms": -1.0}, "minimum_note_length_ms"),
        ({"minimum_frequency": 0.0}, "minimum_frequency"),
        ({"maximum_frequency": 20_000.0}, "maximum_frequency"),
        ({"minimum_frequency": 800.0, "maximum_frequency": 400.0}, "maximum_frequency"),
        ({"melodia_trick": "yes"}, "melodia_trick"),
        ({"midi_tempo": 0.0}, "midi_tempo"),
    ],
)
def test_bad_params_are_refused(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidTranscriptionRequest) as caught:
        TranscriptionParams(**options)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_model_refuses_windows_of_the_wrong_shape() -> None:
    with pytest.raises(InvalidTranscriptionRequest, match="shape") as caught:
        default_model().predict(np.zeros((1, WINDOW_SAMPLES - 1, 1), dtype=np.float32))
    assert caught.value.field == "windows"


def test_a_constant_offset_under_music_changes_no_note() -> None:
    tone = 0.4 * np.sin(2 * np.pi * 440 * np.arange(3 * 22050) / 22050)
    assert [n.pitch for n in transcribe(tone + 0.3, 22050).notes] == [n.pitch for n in transcribe(tone, 22050).notes]


@pytest.mark.parametrize(
    ("options", "pitches"),
    [
        ({}, [45, 69, 93]),
        # Below the lowest piano key (A0, 27.5 Hz): basic-pitch's own filter indexed from the top and dropped all
        # but the highest keys (minimum) or kept everything (maximum).
        ({"minimum_frequency": 20.0}, [45, 69, 93]),
        ({"minimum_frequency": 1.0}, [45, 69, 93]),
        ({"maximum_frequency": 20.0}, []),
        ({"maximum_frequency": 26.0}, []),
        # Both ends are included: the key at the maximum stays (basic-pitch's filter dropped it).
        ({"maximum_frequency": 440.0}, [45, 69]),
        ({"minimum_frequency": 440.0}, [69, 93]),
        ({"minimum_frequency": 440.0, "maximum_frequency": 440.5}, [69]),
        ({"minimum_frequency": 200.0, "maximum_frequency": 300.0}, []),
        ({"maximum_frequency": 11025.0}, [45, 69, 93]),
    ],
)
def test_the_frequency_range_keeps_the_keys_within_it(options: dict[str, float], pitches: list[int]) -> None:
    # A2, A4 and A6, one after the other.
    time = np.arange(22050) / 22050
    tones = np.concatenate([0.4 * np.sin(2 * np.pi * hz * time) for hz in (110.0, 440.0, 1760.0)])
    notes = transcribe(tones, 22050, TranscriptionParams(**options)).notes  # type: ignore[arg-type]
    assert sorted({note.pitch for note in notes}) == pitches


def test_importing_the_transcriber_prints_nothing_on_stdout() -> None:
    # pyfluidsynth (under basic-pitch's pretty_midi) prints where it found libfluidsynth when $CI is set.
    code = "import transcriber, gateway.triton"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "CI": "1"}, check=True
    )
    assert done.stdout == ""


@pytest.mark.skipif(
    "CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="this onnxruntime has CUDA"
)
def test_the_model_on_cuda_without_a_cuda_onnxruntime_says_what_to_install() -> None:
    with pytest.raises(RuntimeError, match="install onnxruntime-gpu"):
        NoteModel(device="cuda")
