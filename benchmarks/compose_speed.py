"""Compose speed (issue #15): a composed song's MIDI, mix and stems written to disk, against the fluidsynth CLI
rendering that song's mix alone, and the gateway's two ways of getting a render from Triton (system shared memory,
and gRPC), side by side in one run. Starts its own stack (text2midi and fluidsynth) on free ports, plus a second
gateway on the same Triton with DGXMUSIC_TRITON_SHARED_MEMORY=off; every figure is a median of runs interleaved
with its anchor's, so both see the same machine load.

1. a 16-bar song: `fluidsynth -ni -F` (the anchor, whole process) vs `dgx-music compose --no-cache` (whole process:
   MIDI, mix and one stem per track written) through each gateway, and the same through a warm client;
2. the 30 s four-track song of benchmarks/serving.py composed end to end (MIDI + mix + stems in memory), warm:
   p50/p90 through each gateway, with one run's stages.

Run: `make bench-compose` (or `.venv/bin/python benchmarks/compose_speed.py [--repeat N]`); on a machine with an
NVIDIA GPU, `.venv/bin/python benchmarks/compose_speed.py --device cuda` runs the same with Triton planned for the
gpu-server profile (composing and rendering stay on the CPUs there too; it fails at once where there is no GPU).
"""

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tritonclient.grpc as triton_grpc

import renderers
from clients.client import MusicClient, compose_request, song_options
from deploy import planner, triton
from deploy.launcher import Stack, free_ports, gateway_serving, settings_on_free_ports
from dgxmusic.v1 import music_service_pb2 as pb

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PROMPT = "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor"
SEED = 3
DGX_MUSIC = Path(sys.executable).parent / "dgx-music"


@contextmanager
def gateway_without_shared_memory(stack: Stack) -> Iterator[str]:
    """A second gateway on the stack's Triton and Redis that gets renders over gRPC: its target."""
    (port,) = free_ports(1)
    env = stack.gateway_environment(grpc_port=str(port), metrics_port="0", triton_shared_memory="off")
    with (stack.log_dir / "gateway-grpc.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while not gateway_serving(f"127.0.0.1:{port}"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the second gateway did not start: see {stack.log_dir / 'gateway-grpc.log'}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def seconds_of(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def interleaved(runs: Mapping[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Each run once per round, in turn, after one warm-up round."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            times[name].append(seconds_of(run))
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def stages(result_summary: pb.Summary) -> str:
    return ", ".join(f"{pb.Stage.Name(t.stage).removeprefix('STAGE_').lower()} {t.seconds:.3f}"
                     for t in result_summary.stage_timings)  # fmt: skip


def compose_and_write(client: MusicClient, request: pb.ComposeRequest, out: Path) -> None:
    client.compose(request).write(out)


def bench_song(targets: dict[str, str], work: Path, repeat: int) -> None:
    options = song_options(bars=16, seed=SEED)
    with MusicClient(targets["shared memory"], timeout=600) as client:
        song = client.compose(compose_request(PROMPT, options=options, bypass_cache=True))
    midi = work / "song.mid"
    midi.write_bytes(song.midi)
    anchor = ["fluidsynth", "-ni", "-q", "-F", str(work / "cli.wav"), "-r", "44100", str(SOUNDFONT), str(midi)]
    runs: dict[str, Callable[[], object]] = {"fluidsynth CLI, mix only": lambda: subprocess.run(anchor, check=True)}
    # What the fluidsynth model's own work takes (the stems, summed into the mix): the rest is the stack's.
    studio = renderers.Studio(renderers.SoundFontLibrary([SOUNDFONT.parent], SOUNDFONT.stem))
    runs["in process: renderers.Studio, stems (no I/O)"] = lambda: studio.render(song.midi, SOUNDFONT.stem, 44100)
    clients = {name: MusicClient(target, timeout=600) for name, target in targets.items()}
    request = compose_request(PROMPT, options=options, bypass_cache=True)
    for name, target in targets.items():
        out = work / name.replace(" ", "-")
        cli = [str(DGX_MUSIC), "compose", PROMPT, "--bars", "16", "--seed", str(SEED), "--no-cache", "--overwrite",
               "--out", str(out), "--server", target]  # fmt: skip
        runs[f"dgx-music compose ({name})"] = functools.partial(subprocess.run, cli, check=True, capture_output=True)
        written = functools.partial(compose_and_write, clients[name], request, out)
        runs[f"warm client compose + write ({name})"] = written
    try:
        times = interleaved(runs, repeat)
    finally:
        for client in clients.values():
            client.close()
        studio.close()
    base = median(times["fluidsynth CLI, mix only"])
    print(f"16 bars, {song.info.duration_seconds:.1f} s, {len(song.stems)} tracks ({', '.join(song.stems)}): "
          f"MIDI + mix + stems written, cache bypassed; median of {repeat} interleaved runs")  # fmt: skip
    for name, values in times.items():
        target = "   (target <= 2x)" if "compose" in name else ""
        print(f"  {name:<46} {median(values):7.3f} s  {median(values) / base:5.2f}x the CLI{target}")


def bench_thirty_seconds(targets: dict[str, str], repeat: int) -> None:
    request = compose_request(PROMPT, options=song_options(seconds=30), bypass_cache=True)
    clients = {name: MusicClient(target, timeout=600) for name, target in targets.items()}
    try:
        runs = {name: functools.partial(client.compose, request) for name, client in clients.items()}
        times = interleaved(runs, repeat)
        print(f"30 s four-track compose end to end (MIDI + mix + stems in memory), warm, {repeat} interleaved runs:")
        for name, client in clients.items():
            values = sorted(times[name])
            p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
            print(f"  {name:<14} p50 {median(values):.3f} s, p90 {p90:.3f} s (target p50 <= 0.8 s); "
                  f"stages of one run: {stages(client.compose(request).summary)}")  # fmt: skip
        ratio = median(times["gRPC"]) / median(times["shared memory"])
        print(f"  shared memory is {ratio:.2f}x as fast as gRPC")
    finally:
        for client in clients.values():
            client.close()


def triton_model_ns(stack: Stack, model: str) -> dict[str, int]:
    """Triton's running totals for `model`: requests, and nanoseconds by phase."""
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{stack.settings.triton_grpc_port}")
    headers = triton.grpc_key_headers(stack.settings)
    answer = client.get_inference_statistics(model, headers=headers, as_json=True)
    stats = answer["model_stats"][0]["inference_stats"]
    totals = {phase: int(stats[phase].get("ns", 0)) for phase in ("success", "queue", "compute_input", "compute_infer",
                                                                 "compute_output")}  # fmt: skip
    totals["count"] = int(stats["success"].get("count", 0))
    return totals


@dataclass
class StagedCalls:
    """`repeat` calls of one kind: mean seconds end to end, mean seconds of each stage the gateway reported, and
    Triton's mean milliseconds per request of `model` by phase ("success" is its whole)."""

    seconds: float
    stages: dict[str, float]
    triton_ms: dict[str, float]


def staged_calls(call: Callable[[], Any], repeat: int, stages: list[str], stack: Stack, model: str) -> StagedCalls:
    """Times `repeat` calls of `call` (it returns a result with a `summary`), after one warm-up."""
    call()
    before = triton_model_ns(stack, model)
    total, sums = 0.0, dict.fromkeys(stages, 0.0)
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        total += time.perf_counter() - began
        for timing in result.summary.stage_timings:
            stage = pb.Stage.Name(timing.stage).removeprefix("STAGE_").lower()
            sums[stage] = sums.get(stage, 0.0) + timing.seconds
    after = triton_model_ns(stack, model)
    requests = max(1, after["count"] - before["count"])
    triton_ms = {phase: (after[phase] - before[phase]) / requests / 1e6 for phase in before if phase != "count"}
    return StagedCalls(total / repeat, {stage: seconds / repeat for stage, seconds in sums.items()}, triton_ms)


def profile(stack: Stack, targets: dict[str, str], repeat: int) -> None:
    """Where the milliseconds of the 30 s compose go, per path: the stages the gateway reports, Triton's phases of
    the render (its statistics), and what is left (the tensors' way from Triton to the gateway, the client)."""
    request = compose_request(PROMPT, options=song_options(seconds=30), bypass_cache=True)
    rows: dict[str, dict[str, float]] = {}
    for name, target in targets.items():
        with MusicClient(target, timeout=600) as client:
            calls = staged_calls(
                functools.partial(client.compose, request),
                repeat,
                ["composing", "rendering", "streaming"],
                stack,
                "fluidsynth",
            )
        triton_ms = calls.triton_ms
        row = {f"gateway stage: {stage}": seconds * 1000 for stage, seconds in calls.stages.items()}
        row["  Triton: queue"] = triton_ms["queue"]
        row["  Triton: compute_input"] = triton_ms["compute_input"]
        row["  Triton: compute_infer (FluidSynth, stems + mix)"] = triton_ms["compute_infer"]
        row["  Triton: compute_output (outputs copied out)"] = triton_ms["compute_output"]
        row["  rendering stage - Triton's request (tensors to the gateway)"] = (
            row["gateway stage: rendering"] - triton_ms["success"]
        )
        row["client: receiving and decoding, the rest"] = calls.seconds * 1000 - sum(
            value for key, value in row.items() if key.startswith("gateway")
        )
        row["end to end"] = calls.seconds * 1000
        rows[name] = row
    print_ms_table(
        f"where the 30 s compose's milliseconds go (mean of {repeat} calls per path, one path after the other):", rows
    )


def print_ms_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    """A profile: one column of milliseconds per path (`rows` by path, each by row name, all in the same order)."""
    print(title)
    names = list(rows)
    print(f"  {'':<62}" + "".join(f"{name:>15}" for name in names))
    for key in rows[names[0]]:
        print(f"  {key:<62}" + "".join(f"{rows[name][key]:>13.0f}ms" for name in names))


def has_nvidia_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return listed.returncode == 0 and "GPU" in listed.stdout


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--repeat", type=int, default=7, help="interleaved rounds per figure")
    arguments.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: Triton planned for a GPU")
    options = arguments.parse_args()
    if options.device == "cuda" and not has_nvidia_gpu():
        raise SystemExit("--device cuda: this machine has no NVIDIA GPU (nvidia-smi lists none); run it on one")
    if shutil.which("fluidsynth") is None or not SOUNDFONT.is_file():
        raise SystemExit(f"the anchor needs the fluidsynth CLI and {SOUNDFONT} (make system)")
    print(f"load average before: {', '.join(f'{load:.1f}' for load in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        overrides: dict[str, object] = {"log_level": "warning", "models": ["text2midi", "fluidsynth"]}
        if options.device == "cuda":
            planner.plan(planner.load_profile("gpu-server"), work / "repository")
            overrides["model_repository"] = work / "repository"
        settings = settings_on_free_ports(work / "stack", **overrides)
        with Stack(settings) as stack, gateway_without_shared_memory(stack) as over_grpc:
            targets = {"shared memory": stack.gateway_target, "gRPC": over_grpc}
            bench_song(targets, work, options.repeat)
            bench_thirty_seconds(targets, max(options.repeat, 10))
            profile(stack, targets, options.repeat)
    print(f"load average after: {', '.join(f'{load:.1f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
