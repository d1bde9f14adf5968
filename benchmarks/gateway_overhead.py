"""The gateway's own cost on a unary call (issue #15: p50 <= 1 ms): GenerateMidi of 8 bars through the gateway vs the
text2midi model called on Triton directly, in alternating rounds on one stack, so that both see the same load.

Run: `.venv/bin/python benchmarks/gateway_overhead.py [--rounds N] [--calls N]` (starts its own embedded stack).
"""

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tritonclient.grpc as triton_grpc

from clients.client import MusicClient, song_options
from deploy.launcher import Stack, settings_on_free_ports

PROMPT = "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor"
OPTIONS = {"bars": 8, "seed": 1}


def timed(run: Callable[[], object], calls: int) -> list[float]:
    seconds = []
    for _ in range(calls):
        began = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - began)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=50, help="calls per round and path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_on_free_ports(Path(tmp) / "stack", log_level="info")
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=60) as client:
            triton = triton_grpc.InferenceServerClient(f"127.0.0.1:{settings.triton_grpc_port}")
            prompt = triton_grpc.InferInput("PROMPT", [1, 1], "BYTES")
            prompt.set_data_from_numpy(np.array([[PROMPT.encode()]], dtype=np.object_))
            options = triton_grpc.InferInput("OPTIONS", [1, 1], "BYTES")
            options.set_data_from_numpy(np.array([[json.dumps(OPTIONS).encode()]], dtype=np.object_))

            def direct() -> None:
                triton.infer("text2midi", [prompt, options]).as_numpy("MIDI")

            def gateway() -> None:
                client.generate_midi(PROMPT, song_options(bars=OPTIONS["bars"], seed=OPTIONS["seed"]))

            via_gateway: list[float] = []
            via_triton: list[float] = []
            timed(gateway, 20), timed(direct, 20)  # warm-up
            for _ in range(args.rounds):
                via_gateway += timed(gateway, args.calls)
                via_triton += timed(direct, args.calls)
    g50, t50 = statistics.median(via_gateway) * 1000, statistics.median(via_triton) * 1000
    g90, t90 = np.percentile(via_gateway, 90) * 1000, np.percentile(via_triton, 90) * 1000
    calls = args.rounds * args.calls
    print(f"GenerateMidi (8 bars) through the gateway vs text2midi on Triton directly, {calls} calls each, in turns:")
    print(f"  gateway p50 {g50:.2f} ms, p90 {g90:.2f} ms")
    print(f"  direct  p50 {t50:.2f} ms, p90 {t90:.2f} ms")
    print(f"  gateway overhead p50 {g50 - t50:.2f} ms (target <= 1 ms)")


if __name__ == "__main__":
    main()
