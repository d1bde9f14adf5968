"""How fast transcriber/ turns audio into MIDI, against basic-pitch's own `predict()` on the same audio.

Run: .venv/bin/python benchmarks/transcription.py [--bars N] [--repeat N] [--threads N] [--device cpu|cuda]
(--device cuda runs our model on onnxruntime-gpu's CUDA provider and stops with a clear error where there is none;
basic-pitch's predict() always runs its ONNX model on the CPU provider, as it ships.)
Renders a composed song without its drums (FluidSynth, 44.1 kHz stereo), then times, warm and best of --repeat:
`transcriber.transcribe` on the array (with its stages) and `basic_pitch.inference.predict` with the ONNX model
path on the same audio written as a float WAV. Prints x real time, their ratio, and whether the notes agree.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mido
import numpy as np
import soundfile

import composer
import renderers
import transcriber
from transcriber._basic_pitch import ONNX_MODEL_PATH

SAMPLE_RATE = 44100
PROMPT = "upbeat funk in E minor"


def song_without_drums(bars: int) -> bytes:
    song = mido.MidiFile(file=io.BytesIO(composer.compose(composer.SongRequest(PROMPT, bars=bars, seed=1)).midi))
    song.tracks = [track for track in song.tracks if track.name != "Drums"]
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def basic_pitch_predict(path: Path) -> list[tuple[float, float, int]]:
    from basic_pitch.inference import predict  # type: ignore[import-untyped]

    with contextlib.redirect_stdout(io.StringIO()):  # predict prints a line per file
        _, _, events = predict(str(path), ONNX_MODEL_PATH)
    return sorted((float(start), float(end), int(pitch)) for start, end, pitch, *_ in events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=transcriber.DEFAULT_THREADS)
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="cuda: our model on onnxruntime-gpu (fails without)"
    )
    args = parser.parse_args()

    font = renderers.SoundFontLibrary(renderers.DEFAULT_SOUNDFONT_DIRS).resolve("FluidR3_GM")
    with renderers.FluidSynthRenderer(font, SAMPLE_RATE) as renderer:
        audio = renderer.render(renderers.parse_midi(song_without_drums(args.bars)), stems=False).mix
    seconds = audio.shape[0] / SAMPLE_RATE
    load_seconds, model = best_of(1, lambda: transcriber.NoteModel(threads=args.threads, device=args.device))
    print(f"audio: {seconds:.1f} s, {SAMPLE_RATE} Hz stereo; model load {load_seconds:.2f} s")

    def ours() -> transcriber.Transcription:
        return transcriber.transcribe(audio, SAMPLE_RATE, model=model)

    ours()  # warm-up: first calls compile numba code and size onnxruntime's buffers
    ours_seconds, transcription = best_of(args.repeat, ours)
    prepared = transcriber.prepare_audio(audio, SAMPLE_RATE)
    windows = transcriber.window_audio(prepared)
    stage_prepare, _ = best_of(args.repeat, lambda: transcriber.prepare_audio(audio, SAMPLE_RATE))
    stage_model, outputs = best_of(args.repeat, lambda: model.predict(windows))
    unwindowed = transcriber.unwindow(outputs, prepared.shape[0])
    params = transcriber.TranscriptionParams()
    stage_notes, _ = best_of(args.repeat, lambda: transcriber.create_notes(unwindowed, params))

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "song.wav"
        soundfile.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
        basic_pitch_predict(path)
        theirs_seconds, theirs = best_of(args.repeat, lambda: basic_pitch_predict(path))

    ours_notes = sorted((note.start, note.end, note.pitch) for note in transcription.notes)
    same = len(ours_notes) == len(theirs) and np.allclose(np.array(ours_notes), np.array(theirs), atol=1e-6)
    print(f"{'':42}{'seconds':>9}{'x real time':>13}")
    rows = [
        (f"transcriber.transcribe ({args.device}, {args.threads} threads)", ours_seconds),
        ("  prepare (downmix, soxr_hq)", stage_prepare),
        (f"  model ({windows.shape[0]} windows)", stage_model),
        ("  notes + MIDI", stage_notes),
        ("basic_pitch predict (ONNX path)", theirs_seconds),
    ]
    for name, elapsed in rows:
        print(f"{name:42}{elapsed:9.3f}{seconds / elapsed:12.1f}x")
    print(f"ours / predict speed: {theirs_seconds / ours_seconds:.2f}x")
    print(f"notes: ours {len(ours_notes)}, predict {len(theirs)}, identical: {same}")


if __name__ == "__main__":
    main()
