"""Transcription speed (issue #15), whole process against whole process: `dgx-music transcribe FILE` through a warm
stack against a process that runs basic-pitch's own `predict()` on the same file (the anchor; target: at least 1.5x
its speed), side by side in one run. Starts its own stack (basic_pitch) on free ports, plus a second gateway on the
same Triton with DGXMUSIC_TRITON_SHARED_MEMORY=off; writes the pitched tracks of a composed song as 120 s and 30 s
float WAVs; every figure is a median of runs interleaved with the anchor's, so all see the same machine load:

- basic-pitch: a `predict()` process writing the MIDI file (the anchor), and its CLI (`basic-pitch --save-midi
  --model-serialization onnx`);
- the limit the issue names: a process that imports onnxruntime and soundfile, reads the file, downmixes, resamples
  (soxr HQ), and runs the ONNX model on the windows, with no notes;
- ours: `dgx-music transcribe FILE --out OUT.mid` through each gateway (whole process), a warm client's transcribe and
  write, and `transcriber.transcribe` in this process on the file (warm model);

then whether the notes agree (count, pitches, and the MIDI files' bytes, against `predict()`), and where a served
transcription's milliseconds go (the gateway's stages, Triton's statistics for basic_pitch, the gateway's own steps
timed here on the same audio, the CLI's start).

Run: `make bench-transcribe` (or `.venv/bin/python benchmarks/transcription_speed.py [--repeat N]`); on a machine
with an NVIDIA GPU, `.venv/bin/python benchmarks/transcription_speed.py --device cuda` (`make bench-transcribe-gpu`)
runs the same with Triton planned for the gpu-server profile, and the limit and the in-process figure on onnxruntime's
CUDA provider (onnxruntime-gpu; basic-pitch's predict() runs its ONNX model on the CPU, as it ships); it fails at
once where there is no GPU.
"""

import argparse
import contextlib
import functools
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import soundfile

import transcriber
from clients.client import MusicClient
from deploy import planner
from deploy.launcher import Stack, settings_on_free_ports
from dgxmusic.audio import decode_upload
from dgxmusic.models import BasicPitch
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from transcriber._basic_pitch import ONNX_MODEL_PATH

sys.path.insert(0, str(Path(__file__).parents[1]))  # the benchmarks beside this file, run as a script
from benchmarks.analysis import pitched_song
from benchmarks.compose_speed import (
    gateway_without_shared_memory,
    has_nvidia_gpu,
    interleaved,
    print_ms_table,
    staged_calls,
)

BIN = Path(sys.executable).parent
TARGET_RATIO = 1.5

# The anchor: what a user of basic-pitch runs, in a process of its own (argv: audio, MIDI out, ONNX model).
PREDICT = """
import sys
from basic_pitch.inference import predict
_, midi, _ = predict(sys.argv[1], sys.argv[3])
midi.write(sys.argv[2])
"""

# The limit: reading the file and running the model on its windows, nothing more (argv: audio, ONNX model, device,
# window samples, hop samples, the zeros before the first window, the model's sample rate).
LIMIT = """
import sys
import numpy as np, onnxruntime, soundfile, soxr
path, model, device = sys.argv[1:4]
window, hop, lead, rate = map(int, sys.argv[4:8])
audio, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
mono = soxr.resample(audio.mean(axis=1), sample_rate, rate, quality="HQ").astype(np.float32)
padded = np.concatenate([np.zeros(lead, np.float32), mono])
count = -(-padded.shape[0] // hop)
padded = np.concatenate([padded, np.zeros(count * hop + window - padded.shape[0], np.float32)])
windows = np.lib.stride_tricks.sliding_window_view(padded, window)[::hop][:count, :, None]
provider = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}[device]
session = onnxruntime.InferenceSession(model, providers=[provider])
name = session.get_inputs()[0].name
for start in range(0, count, 32):
    session.run(None, {name: np.ascontiguousarray(windows[start : start + 32])})
"""

ANCHOR = "basic-pitch predict() process (the anchor)"
CLI_START = "dgx-music start: python -c 'import clients.cli'"
PREDICT_PROCESS = [sys.executable, "-c", PREDICT]
LIMIT_ARGUMENTS = [transcriber.WINDOW_SAMPLES, transcriber.HOP_SAMPLES, (transcriber.WINDOW_SAMPLES -
                   transcriber.HOP_SAMPLES) // 2, transcriber.MODEL_SAMPLE_RATE]  # fmt: skip


def run_quietly(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def basic_pitch_cli(audio: Path, out_dir: Path) -> None:
    """basic-pitch's CLI, which refuses to overwrite: its MIDI file of the last run goes first."""
    (out_dir / f"{audio.stem}_basic_pitch.mid").unlink(missing_ok=True)
    run_quietly([str(BIN / "basic-pitch"), "--model-serialization", "onnx", "--save-midi", str(out_dir), str(audio)])


def transcribe_and_write(client: MusicClient, audio: Path, out: Path) -> pb.Transcription:
    result = client.transcribe(audio)
    out.write_bytes(result.transcription.midi)
    return result.transcription


def in_process(audio: Path, model: transcriber.NoteModel) -> transcriber.Transcription:
    samples, sample_rate = soundfile.read(audio, dtype="float32", always_2d=True)
    return transcriber.transcribe(samples, sample_rate, model=model)


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_file(
    audio: Path,
    targets: dict[str, str],
    clients: dict[str, MusicClient],
    model: transcriber.NoteModel,
    device: str,
    repeat: int,
) -> dict[str, list[float]]:
    work = audio.parent / audio.stem
    work.mkdir()
    runs: dict[str, Callable[[], object]] = {
        ANCHOR: functools.partial(
            run_quietly, [*PREDICT_PROCESS, str(audio), str(work / "predict.mid"), str(ONNX_MODEL_PATH)]
        ),
        "basic-pitch CLI (ONNX model)": functools.partial(basic_pitch_cli, audio, work),
        f"the limit: read + resample + ONNX model ({device}), no notes": functools.partial(
            run_quietly,
            [sys.executable, "-c", LIMIT, str(audio), str(ONNX_MODEL_PATH), device, *map(str, LIMIT_ARGUMENTS)],
        ),
    }
    for name, target in targets.items():
        cli = [str(BIN / "dgx-music"), "transcribe", str(audio), "--out", str(work / f"{name}.mid"), "--overwrite",
               "--server", target]  # fmt: skip
        runs[f"dgx-music transcribe ({name})"] = functools.partial(run_quietly, cli)
    for name, client in clients.items():
        runs[f"warm client transcribe + write ({name})"] = functools.partial(
            transcribe_and_write, client, audio, work / f"warm-{name}.mid"
        )
    runs[f"in process: transcriber.transcribe ({device}, warm)"] = functools.partial(in_process, audio, model)
    runs[CLI_START] = functools.partial(run_quietly, [sys.executable, "-c", "import clients.cli"])
    times = interleaved(runs, repeat)
    seconds = soundfile.info(str(audio)).duration
    base = median(times[ANCHOR])
    print(f"{audio.name}: {seconds:.1f} s, 44.1 kHz stereo float WAV; median of {repeat} interleaved runs")
    for name, values in times.items():
        took = median(values)
        mark = f"   target >= {TARGET_RATIO}x: {'met' if base / took >= TARGET_RATIO else 'NOT met'}"
        print(f"  {name:<62} {took:7.3f} s  {base / took:5.2f}x the anchor{mark if 'dgx-music tr' in name else ''}")
    agreement(audio, work, targets, clients)
    return times


def agreement(audio: Path, work: Path, targets: dict[str, str], clients: dict[str, MusicClient]) -> None:
    """Whether our notes are predict()'s: count and pitches, and the MIDI files byte for byte."""
    from basic_pitch.inference import predict  # type: ignore[import-untyped]

    with contextlib.redirect_stdout(io.StringIO()):  # predict prints a line per file
        _, _, events = predict(str(audio), str(ONNX_MODEL_PATH))
    theirs = sorted((round(float(start), 6), round(float(end), 6), int(pitch)) for start, end, pitch, *_ in events)
    for name, client in clients.items():
        notes = client.transcribe(audio).transcription.notes
        ours = sorted((round(n.start_seconds, 6), round(n.end_seconds, 6), n.pitch) for n in notes)
        print(f"  notes ({name}): ours {len(ours)}, predict() {len(theirs)}, same times and pitches: {ours == theirs}")
    anchor_midi = (work / "predict.mid").read_bytes()
    files = {"basic-pitch CLI": work / f"{audio.stem}_basic_pitch.mid"}
    files |= {f"dgx-music ({name})": work / f"{name}.mid" for name in targets}
    same = {name: path.read_bytes() == anchor_midi for name, path in files.items()}
    print(f"  MIDI files byte-identical to predict()'s: {', '.join(f'{name} {ok}' for name, ok in same.items())}")


def gateway_steps(audio: Path, repeat: int) -> dict[str, float]:
    """The gateway's own steps around Triton, timed in this process on the same file (milliseconds, best of
    `repeat`): decoding the upload, preparing the windows, and unwindowing + notes + MIDI."""
    data = audio.read_bytes()
    header = audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV)
    samples, sample_rate = decode_upload(data, header)
    prepared = transcriber.prepare(samples, sample_rate)
    outputs = transcriber.NoteModel().predict(prepared.windows)
    params = transcriber.TranscriptionParams()
    steps: dict[str, Callable[[], object]] = {
        "decode the upload (WAV)": lambda: decode_upload(data, header),
        "prepare: downmix, resample, windows": lambda: transcriber.prepare(samples, sample_rate),
        "finish: unwindow, notes, MIDI": lambda: transcriber.finish(prepared, outputs, params),
    }
    best = {}
    for name, step in steps.items():
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            step()
            times.append(time.perf_counter() - began)
        best[name] = min(times) * 1000
    return best


def profile(stack: Stack, clients: dict[str, MusicClient], audio: Path, times: dict[str, list[float]],
            repeat: int) -> None:  # fmt: skip
    """Where a served transcription's milliseconds go, per gateway: its stages, Triton's phases of the basic_pitch
    requests (two side by side per transcription), the gateway's steps timed here, and what is left."""
    steps = gateway_steps(audio, repeat)
    rows: dict[str, dict[str, float]] = {}
    for name, client in clients.items():
        calls = staged_calls(
            functools.partial(client.transcribe, audio), repeat, ["receiving", "transcribing"], stack, BasicPitch.NAME
        )
        per_request = calls.triton_ms
        start = median(times[CLI_START]) * 1000
        cli = median(times[f"dgx-music transcribe ({name})"]) * 1000
        warm = median(times[f"warm client transcribe + write ({name})"]) * 1000
        row = {"dgx-music start (python, import clients.cli)": start}
        row["dgx-music: the rest (connect, read, write; medians differenced)"] = cli - warm - start
        row["gateway stage: receiving (upload, decode)"] = calls.stages["receiving"] * 1000
        row["  of it, decoding the WAV (timed here)"] = steps["decode the upload (WAV)"]
        row["gateway stage: transcribing"] = calls.stages["transcribing"] * 1000
        row["  prepare: downmix, resample, windows (timed here)"] = steps["prepare: downmix, resample, windows"]
        row["  Triton, per request: queue"] = per_request["queue"]
        row["  Triton, per request: compute_input (windows in)"] = per_request["compute_input"]
        row["  Triton, per request: compute_infer (the ONNX model)"] = per_request["compute_infer"]
        row["  Triton, per request: compute_output (outputs out)"] = per_request["compute_output"]
        row["  Triton, per request: in all"] = per_request["success"]
        row["  finish: unwindow, notes, MIDI (timed here)"] = steps["finish: unwindow, notes, MIDI"]
        row["  the rest: tensors' way, waiting, progress"] = (
            row["gateway stage: transcribing"]
            - row["  prepare: downmix, resample, windows (timed here)"]
            - per_request["success"]
            - row["  finish: unwindow, notes, MIDI (timed here)"]
        )
        row["client: sending, the response, the rest"] = calls.seconds * 1000 - (
            row["gateway stage: receiving (upload, decode)"] + row["gateway stage: transcribing"]
        )
        row["warm client call, end to end"] = calls.seconds * 1000
        row["dgx-music transcribe, whole process"] = cli
        rows[name] = row
    title = f"where the {audio.name} transcription's milliseconds go (stages: mean of {repeat} calls per gateway):"
    print_ms_table(title, rows)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--repeat", type=int, default=5, help="interleaved rounds per figure")
    arguments.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: Triton planned for a GPU")
    options = arguments.parse_args()
    device: Literal["cpu", "cuda"] = options.device
    if device == "cuda" and not has_nvidia_gpu():
        raise SystemExit("--device cuda: this machine has no NVIDIA GPU (nvidia-smi lists none); run it on one")
    model = transcriber.NoteModel(device=device)  # fails at once, saying what to install, without a CUDA onnxruntime
    print(f"load average before: {', '.join(f'{load:.1f}' for load in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        songs = {seconds: work / f"song-{seconds}s.wav" for seconds in (120, 30)}
        for seconds, path in songs.items():
            pitched_song(path, seconds)
        overrides: dict[str, Any] = {"log_level": "warning", "models": [BasicPitch.NAME]}
        if device == "cuda":
            planner.plan(planner.load_profile("gpu-server"), work / "repository")
            overrides["model_repository"] = work / "repository"
        settings = settings_on_free_ports(work / "stack", **overrides)
        with Stack(settings) as stack, gateway_without_shared_memory(stack) as over_grpc:
            targets = {"shared memory": stack.gateway_target, "gRPC": over_grpc}
            clients = {name: MusicClient(target, timeout=600) for name, target in targets.items()}
            try:
                times = {
                    path: bench_file(path, targets, clients, model, device, options.repeat) for path in songs.values()
                }
                for path, runs in times.items():
                    profile(stack, clients, path, runs, options.repeat)
            finally:
                for client in clients.values():
                    client.close()
    print(f"load average after: {', '.join(f'{load:.1f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
