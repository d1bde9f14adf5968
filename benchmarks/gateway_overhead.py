"""The gateway's own cost on a unary call (issue #15: p50 <= 1 ms): GenerateMidi of 8 bars through the gateway vs the
text2midi model called on Triton directly, in alternating rounds on one stack, so that both see the same load.

Also where it goes: the CPU each process of the stack spends per call on each path (read from /proc, so on Linux),
and the gateway's own split of a call (from its log: the whole handler, and the Triton call inside it); and the floor
any Python gateway stands on: a bare grpc.aio server (this file, run with --passthrough) that hands the same request
to Triton with tritonclient's asyncio client and the MIDI back, nothing else.

Run: `.venv/bin/python benchmarks/gateway_overhead.py [--rounds N] [--calls N]` (starts its own embedded stack).
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.grpc.aio as triton_aio

from clients.client import MusicClient, song_options
from deploy.launcher import Stack, free_ports, settings_on_free_ports

PROMPT = "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor"
OPTIONS = {"bars": 8, "seed": 1}
PASSTHROUGH_METHOD = "/bench.Passthrough/GenerateMidi"


def text2midi_inputs(prompt: bytes) -> list[triton_grpc.InferInput]:
    inputs = [triton_grpc.InferInput("PROMPT", [1, 1], "BYTES"), triton_grpc.InferInput("OPTIONS", [1, 1], "BYTES")]
    inputs[0].set_data_from_numpy(np.array([[prompt]], dtype=np.object_))
    inputs[1].set_data_from_numpy(np.array([[json.dumps(OPTIONS).encode()]], dtype=np.object_))
    return inputs


async def serve_passthrough(port: int, triton_url: str) -> None:
    """The least a Python gateway does: a prompt in, text2midi on Triton, the MIDI out (raw bytes both ways)."""
    triton = triton_aio.InferenceServerClient(triton_url)

    async def generate_midi(prompt: bytes, context: grpc.aio.ServicerContext) -> bytes:
        result = await triton.infer("text2midi", text2midi_inputs(prompt))
        return bytes(result.as_numpy("MIDI").reshape(-1)[0])

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(generate_midi)
    service, method = PASSTHROUGH_METHOD.strip("/").split("/")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {method: handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def timed(run: Callable[[], object], calls: int) -> list[float]:
    seconds = []
    for _ in range(calls):
        began = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - began)
    return seconds


def process_name(pid: int) -> str:
    """What a process of the stack is, by its command line."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    line = " ".join(part.decode(errors="replace") for part in argv)
    for marker, name in (("-m gateway", "gateway"), ("model.py", "model stubs"), ("tritonserver", "tritonserver")):
        if marker in line:
            return name
    if "redis" in line:
        return "redis"
    if line.startswith("postgres"):
        return "postgresql"
    if "multiprocessing" in line:
        return "gateway's describing process"
    return Path(argv[0].decode(errors="replace")).name


def cpu_by_process() -> dict[str, float]:
    """CPU seconds (user + system) so far of every process below this one, summed by what it is."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    mine, found = {os.getpid()}, True
    while found:
        found = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                found = True
    seconds: defaultdict[str, float] = defaultdict(float)
    for pid in mine - {os.getpid()}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[process_name(pid)] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
    seconds["this benchmark (the client)"] = time.process_time()
    return seconds


def gateway_split(log: Path) -> tuple[float, float]:
    """The gateway's p50 of a GenerateMidi call's handler and of the Triton call in it, ms, from its rpc log lines."""
    handler, triton = [], []
    for line in log.read_text().splitlines():
        if '"rpc"' in line and '"GenerateMidi"' in line:
            fields = json.loads(line)
            handler.append(fields["ms"])
            triton.append(fields["stages_ms"].get("composing", 0.0))
    return statistics.median(handler), statistics.median(triton)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=50, help="calls per round and path")
    parser.add_argument("--passthrough", nargs=2, metavar=("PORT", "TRITON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passthrough:
        asyncio.run(serve_passthrough(int(args.passthrough[0]), args.passthrough[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_on_free_ports(Path(tmp) / "stack", log_level="info")
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=60) as client:
            triton_url = f"127.0.0.1:{settings.triton_grpc_port}"
            triton = triton_grpc.InferenceServerClient(triton_url)
            inputs = text2midi_inputs(PROMPT.encode())
            (port,) = free_ports(1)
            proxy = subprocess.Popen([sys.executable, __file__, "--passthrough", str(port), triton_url])
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(channel).result(timeout=60)
            passthrough_call = channel.unary_unary(PASSTHROUGH_METHOD)

            def direct() -> None:
                triton.infer("text2midi", inputs).as_numpy("MIDI")

            def passthrough() -> None:
                passthrough_call(PROMPT.encode(), timeout=60)

            def gateway() -> None:
                client.generate_midi(PROMPT, song_options(bars=OPTIONS["bars"], seed=OPTIONS["seed"]))

            via_gateway: list[float] = []
            via_triton: list[float] = []
            via_passthrough: list[float] = []
            cpu: dict[str, defaultdict[str, float]] = {"gateway": defaultdict(float), "direct": defaultdict(float)}
            paths = (("gateway", gateway, via_gateway), ("direct", direct, via_triton))
            try:
                timed(gateway, 20), timed(direct, 20), timed(passthrough, 20)  # warm-up
                for _ in range(args.rounds):
                    for name, run, times in paths:
                        before = cpu_by_process()
                        times += timed(run, args.calls)
                        for process, seconds in cpu_by_process().items():
                            cpu[name][process] += seconds - before.get(process, 0.0)
                    via_passthrough += timed(passthrough, args.calls)
            finally:
                channel.close()
                proxy.terminate()
                proxy.wait(timeout=30)
            time.sleep(1)  # the gateway's last log lines
            handler, triton_in_gateway = gateway_split(stack.log_dir / "gateway.log")
    g50, t50 = statistics.median(via_gateway) * 1000, statistics.median(via_triton) * 1000
    g90, t90 = np.percentile(via_gateway, 90) * 1000, np.percentile(via_triton, 90) * 1000
    calls = args.rounds * args.calls
    print(f"GenerateMidi (8 bars) through the gateway vs text2midi on Triton directly, {calls} calls each, in turns:")
    print(f"  gateway p50 {g50:.2f} ms, p90 {g90:.2f} ms")
    print(f"  direct  p50 {t50:.2f} ms, p90 {t90:.2f} ms")
    print(f"  gateway overhead p50 {g50 - t50:.2f} ms (target <= 1 ms)")
    p50 = statistics.median(via_passthrough) * 1000
    print(f"  the floor, a bare grpc.aio pass-through to Triton: p50 {p50:.2f} ms, {p50 - t50:+.2f} ms over direct")
    print(f"  the gateway's own view, p50: handler {handler:.2f} ms, the Triton call in it {triton_in_gateway:.2f} ms")
    print("CPU per call by process, ms (user + system, over each path's rounds; background work included):")
    print(f"  {'':<34}{'gateway':>9}{'direct':>9}")
    for name in sorted(set(cpu["gateway"]) | set(cpu["direct"]), key=lambda n: -cpu["gateway"][n]):
        row = [cpu[path][name] / calls * 1000 for path in ("gateway", "direct")]
        if max(row) >= 0.01:
            print(f"  {name:<34}{row[0]:9.2f}{row[1]:9.2f}")


if __name__ == "__main__":
    main()
