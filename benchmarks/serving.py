"""Serving-stack benchmark (issue: the serving stack end to end). Starts its own embedded stack on free ports and
prints, side by side in one run:

1. served Render of a MIDI file vs the `fluidsynth -ni -F` CLI on the same file and SoundFont (x real time);
2. a 30 s four-track song composed end to end (MIDI + mix + stems), warm: p50/p90 seconds;
3. gateway overhead: GenerateMidi through the gateway vs the text2midi model called on Triton directly (p50/p90).

Run: `make bench` (or `.venv/bin/python benchmarks/serving.py`).
"""

import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tritonclient.grpc as triton_grpc

from clients.client import MusicClient, compose_request, song_options
from deploy.launcher import Stack, settings_on_free_ports
from deploy.settings import Settings
from dgxmusic.v1 import music_service_pb2 as pb

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PROMPT = "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor"


def timings(run: Callable[[], object], repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        run()
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - began)
    return seconds


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_render(client: MusicClient, work: Path, seconds: float) -> None:
    song = client.generate_midi(PROMPT, song_options(seconds=seconds, seed=3))
    midi, duration = song.midi, song.info.duration_seconds
    midi_path = work / "song.mid"
    midi_path.write_bytes(midi)
    cli = [
        "fluidsynth",
        "-ni",
        "-q",
        "-F",
        str(work / "cli.wav"),
        "-r",
        "44100",
        str(SOUNDFONT),
        str(midi_path),
    ]
    request = pb.RenderRequest(midi=midi, soundfont=SOUNDFONT.stem, bypass_cache=True)
    served: list[float] = []
    cli_runs: list[float] = []
    for _ in range(5):  # interleaved, so both see the same machine load
        served += timings(lambda: client.render(request), 1, warmup=0 if served else 1)
        cli_runs += timings(lambda: subprocess.run(cli, check=True, capture_output=True), 1, warmup=0)
    s, c = statistics.median(served), statistics.median(cli_runs)
    print(f"render {duration:.0f} s of {SOUNDFONT.stem} (4 tracks), median of 5 interleaved runs:")
    print(f"  served Render (mix, float32): {s:.3f} s = {duration / s:.0f}x real time")
    print(f"  fluidsynth -ni -F (CLI):      {c:.3f} s = {duration / c:.0f}x real time")
    print(f"  served / CLI speed ratio:     {c / s:.2f}x (>= 1 means served is at least as fast)")


def bench_compose(client: MusicClient) -> None:
    request = compose_request(PROMPT, options=song_options(seconds=30), bypass_cache=True)
    result = client.compose(request)
    runs = timings(lambda: client.compose(request), 10)
    print(
        f"compose end to end, {result.info.duration_seconds:.1f} s, {len(result.stems)} tracks "
        f"({', '.join(result.stems)}), MIDI + mix + stems, warm:"
    )
    print(f"  p50 {p(runs, 50):.3f} s, p90 {p(runs, 90):.3f} s (target <= 1.5 s)")
    stages = {pb.Stage.Name(t.stage): round(t.seconds, 3) for t in client.compose(request).summary.stage_timings}
    print(f"  stages of one run: {json.dumps(stages)}")


def bench_overhead(client: MusicClient, settings: Settings) -> None:
    triton = triton_grpc.InferenceServerClient(f"127.0.0.1:{settings.triton_grpc_port}")
    options: dict[str, int] = {"bars": 8, "seed": 1}

    def direct() -> None:
        prompt = triton_grpc.InferInput("PROMPT", [1, 1], "BYTES")
        prompt.set_data_from_numpy(np.array([[PROMPT.encode()]], dtype=np.object_))
        opts = triton_grpc.InferInput("OPTIONS", [1, 1], "BYTES")
        opts.set_data_from_numpy(np.array([[json.dumps(options).encode()]], dtype=np.object_))
        triton.infer("text2midi", [prompt, opts]).as_numpy("MIDI")

    def gateway() -> None:
        client.generate_midi(PROMPT, song_options(bars=options["bars"], seed=options["seed"]))

    via_gateway: list[float] = []
    via_triton: list[float] = []
    for _ in range(10):
        via_gateway += timings(gateway, 30, warmup=1)
        via_triton += timings(direct, 30, warmup=1)
    g50, t50 = p(via_gateway, 50) * 1000, p(via_triton, 50) * 1000
    print("GenerateMidi (8 bars) through the gateway vs text2midi on Triton directly, 300 calls each:")
    print(f"  gateway p50 {g50:.2f} ms, p90 {p(via_gateway, 90) * 1000:.2f} ms")
    print(f"  direct  p50 {t50:.2f} ms, p90 {p(via_triton, 90) * 1000:.2f} ms")
    print(f"  gateway overhead p50 {g50 - t50:.2f} ms (target <= 2 ms)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_on_free_ports(Path(tmp) / "stack", log_level="warning")
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=600) as client:
            bench_compose(client)
            bench_overhead(client, settings)
            for seconds in (30, 120):
                bench_render(client, Path(tmp), seconds)


if __name__ == "__main__":
    main()
