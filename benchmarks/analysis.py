"""Served audio analysis (issue: Basic Pitch and Demucs in Triton). Starts its own stack (the demucs model is a
tiny random HTDemucs written in demucs' file format: no weights can be downloaded here) and prints, side by side:

1. Transcribe through the gateway vs basic-pitch's own `predict()` (ONNX model) in one process, same audio file;
2. total transcription throughput with 8 concurrent clients vs 1;
3. Separate through the gateway: seconds per minute of audio with the tiny model.

Run: `make bench` (or `.venv/bin/python benchmarks/analysis.py`).
"""

import contextlib
import io
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mido
import soundfile

import composer
import renderers
from clients.client import MusicClient
from deploy.launcher import Stack, settings_on_free_ports
from separator import write_random_htdemucs
from transcriber._basic_pitch import ONNX_MODEL_PATH

PROMPT = "upbeat funk in E minor"


def pitched_song(path: Path, seconds: float) -> float:
    """Renders a composed song without drums to a WAV file; returns its length in seconds."""
    song = mido.MidiFile(file=io.BytesIO(composer.compose(composer.SongRequest(PROMPT, seconds=seconds)).midi))
    song.tracks = [track for track in song.tracks if track.name != "Drums"]
    buffer = io.BytesIO()
    song.save(file=buffer)
    library = renderers.SoundFontLibrary(renderers.DEFAULT_SOUNDFONT_DIRS)
    with renderers.FluidSynthRenderer(library.resolve(None), 44100) as renderer:
        audio = renderer.render(renderers.parse_midi(buffer.getvalue()), stems=False).mix
    soundfile.write(path, audio, 44100, subtype="FLOAT")
    return len(audio) / 44100


def median_seconds(run: object, repeats: int = 3) -> float:
    assert callable(run)
    run()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_transcription(client: MusicClient, work: Path) -> None:
    from basic_pitch.inference import predict  # type: ignore[import-untyped]

    path = work / "song.wav"
    seconds = pitched_song(path, 120)
    with contextlib.redirect_stdout(io.StringIO()):
        served = median_seconds(lambda: client.transcribe(path))
        local = median_seconds(lambda: predict(str(path), model_or_model_path=str(ONNX_MODEL_PATH)))
    print(f"transcription of {seconds:.0f} s (pitched tracks of a composed song, 44.1 kHz stereo WAV), median of 3:")
    print(f"  served Transcribe:            {served:.2f} s = {seconds / served:.0f}x real time")
    print(f"  basic-pitch predict() (ONNX): {local:.2f} s = {seconds / local:.0f}x real time")
    print(f"  served / predict() throughput: {local / served:.2f}x (target >= 0.8x)")

    short = work / "short.wav"
    clip = pitched_song(short, 30)
    for clients in (1, 8):
        jobs = 16
        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda _: client.transcribe(short), range(jobs)))
        elapsed = time.perf_counter() - began
        print(f"  {clients} concurrent client(s), {jobs} x {clip:.0f} s: {jobs * clip / elapsed:.0f}x real time in all")


def bench_separation(client: MusicClient, work: Path) -> None:
    path = work / "minute.wav"
    seconds = pitched_song(path, 60)
    served = median_seconds(lambda: client.separate(path))
    print(f"separation through the gateway, tiny random HTDemucs, {seconds:.0f} s: {served:.2f} s "
          f"= {served / seconds * 60:.1f} s per minute of audio")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_random_htdemucs(work / "weights", "htdemucs")
        settings = settings_on_free_ports(work / "stack", weights_dir=work / "weights", log_level="warning")
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=600) as client:
            bench_transcription(client, work)
            bench_separation(client, work)


if __name__ == "__main__":
    main()
