"""benchmarks/RESULTS.md and its plots, from one run of the load-test harness (clients/loadtest) on this machine
(issue #13). It starts its own embedded stack on free ports (a random htdemucs and musicgen's 'debug-melody', as the
tests do, so that no weights are downloaded), stops it at the end, and measures:

1. the gateway's own cost: GenerateMidi, Compose and Render through the gateway vs the same model calls made on
   Triton straight (deploy/loadtest.py), one client;
2. throughput and latency of every RPC at 1, 4 and 16 clients (closed loop), with what Triton's statistics say each
   batched model did meanwhile (requests per execution);
3. what dynamic batching buys: each batched model reloaded without `dynamic_batching` (Triton's load_model with a
   config override, the stack's key on the restricted API), its RPC run at 16 clients again, then the model's own
   config loaded back;
4. the load the stack holds for 60 s: a Poisson mix of every RPC at half of what the 16-client runs suggest it can
   take, with its errors counted.

Run: `make loadtest-report` (or `.venv/bin/python benchmarks/loadtest_report.py`); about 7 minutes on 2 cores.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import tritonclient.grpc as triton_grpc
from matplotlib.figure import Figure

from clients.client import AsyncMusicClient
from clients.loadtest.report import png_report
from clients.loadtest.runner import GatewayTarget, Load, Span, Target, run_levels
from clients.loadtest.scenario import RPCS, CallSpec, Payloads, Scenario
from clients.loadtest.stats import Run, format_seconds
from deploy import triton
from deploy.launcher import Stack, settings_on_free_ports
from deploy.loadtest import DIRECT_RPCS, TritonTarget
from separator import write_random_htdemucs

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMMAND = "make loadtest-report"
CLIENTS = (1, 4, 16)
WARMUP_SECONDS = 1.0
CALL_TIMEOUT = 120.0
BATCHING_CLIENTS = 16
# Each model Triton batches dynamically, and the RPC whose calls reach it.
BATCHED_MODELS = {
    "text2midi": "GenerateMidi",
    "fluidsynth": "Render",
    "basic_pitch": "Transcribe",
    "musicgen": "GenerateAudio",
}
# The soak's mix (weights), and its rate as a share of the capacity the 16-client runs suggest for that mix.
SOAK_MIX = {"GenerateMidi": 4, "Render": 2, "Transcribe": 2, "Compose": 1, "Separate": 1, "GenerateAudio": 1}
SOAK_SHARE = 0.5


@dataclass(frozen=True)
class Batches:
    """What Triton says one model did during a run: the requests it answered, the inferences in them (a request may
    carry several rows: a song's variations, an audio file's windows) and the executions they were batched into."""

    requests: int
    inferences: int
    executions: int

    def __sub__(self, before: "Batches") -> "Batches":
        return Batches(
            self.requests - before.requests, self.inferences - before.inferences, self.executions - before.executions
        )

    @property
    def requests_per_execution(self) -> float | None:
        """1.00 when each request ran alone; above it, what dynamic batching merged."""
        return self.requests / self.executions if self.executions else None


@dataclass(frozen=True)
class Measured:
    """One level's run and what each model did meanwhile."""

    run: Run
    batches: dict[str, Batches]


@dataclass(frozen=True)
class Durations:
    """How long each part runs: the issue asks 60 s of soak; shorter runs are for trying the script out."""

    level: float = 10.0
    soak: float = 60.0


@dataclass
class Results:
    """Everything RESULTS.md reports."""

    durations: Durations
    direct: dict[str, tuple[Measured, Measured]] = field(default_factory=dict)  # rpc -> (gateway, Triton), 1 client
    sweeps: dict[str, list[Measured]] = field(default_factory=dict)  # rpc -> a run per CLIENTS
    batching_off: dict[str, Measured | str] = field(default_factory=dict)  # model -> its run, or why none
    soak: Measured | None = None
    soak_rate: float = 0.0


class Triton:
    """The stack's Triton as this benchmark uses it: statistics, and reloading a model with another config."""

    def __init__(self, stack: Stack) -> None:
        self.url = f"127.0.0.1:{stack.settings.triton_grpc_port}"
        self.client = triton_grpc.InferenceServerClient(self.url)
        self.key_headers = triton.grpc_key_headers(stack.settings)

    def counts(self) -> dict[str, Batches]:
        stats = self.client.get_inference_statistics(as_json=True).get("model_stats", [])
        return {
            model["name"]: Batches(
                requests=int(model.get("inference_stats", {}).get("success", {}).get("count", 0)),
                inferences=int(model.get("inference_count", 0)),
                executions=int(model.get("execution_count", 0)),
            )
            for model in stats
        }

    def settled_counts(self, quiet_s: float = 0.3, timeout_s: float = 10.0) -> dict[str, Batches]:
        """The counts once they stay the same for `quiet_s`: Triton records a call after the client has its answer."""
        deadline = time.monotonic() + timeout_s
        counts = self.counts()
        while True:
            time.sleep(quiet_s)
            latest = self.counts()
            if latest == counts or time.monotonic() > deadline:
                return latest
            counts = latest

    @contextlib.contextmanager
    def without_dynamic_batching(self, model: str) -> Iterator[None]:
        """`model` reloaded with its own config less `dynamic_batching` (Triton then runs each request as it comes,
        max_batch_size kept so that the requests keep their shape), and its own config loaded back at the end: sent
        whole, as a reload without a config would find the repository unchanged and keep the override."""
        own = self.client.get_model_config(model, as_json=True)["config"]
        unbatched = {key: value for key, value in own.items() if key != "dynamic_batching"}
        self.client.load_model(model, config=json.dumps(unbatched), headers=self.key_headers)
        try:
            if "dynamic_batching" in self.client.get_model_config(model, as_json=True)["config"]:
                raise RuntimeError(f"{model} still batches dynamically after a reload without dynamic_batching")
            yield
        finally:
            self.client.load_model(model, config=json.dumps(own), headers=self.key_headers)
        if "dynamic_batching" not in self.client.get_model_config(model, as_json=True)["config"]:
            raise RuntimeError(f"{model} did not get its dynamic batching back")

    def close(self) -> None:
        self.client.close()


async def measure(target: Target, tri: Triton, scenario: Scenario, load: Load, span: Span) -> Measured:
    before = tri.settled_counts()
    (run,) = await run_levels(target, Payloads(scenario), [load], span)
    after = tri.settled_counts()
    batches = {model: count - before[model] for model, count in after.items() if model in before}
    summary = run.summary
    p50 = format_seconds(summary.latency.p50) if summary.latency else "-"
    print(f"  {run.label}: {summary.count} calls, {summary.error_count} errors, {summary.rps:.2f}/s, p50 {p50}")
    return Measured(run, batches)


async def measure_all(stack: Stack, tri: Triton, durations: Durations) -> Results:
    results = Results(durations)

    def level() -> Span:
        return Span(duration=durations.level, warmup=WARMUP_SECONDS)

    seeds = iter(range(1, 1000))  # a seed per run (times 10^5): no two runs send the same payloads

    def scenario(rpc: str) -> Scenario:
        return Scenario.single(rpc, seed=next(seeds) * 100_000)

    async with AsyncMusicClient(stack.gateway_target, timeout=CALL_TIMEOUT) as client:
        gateway = GatewayTarget(client)
        direct = TritonTarget(tri.url, CALL_TIMEOUT)
        try:
            for rpc in DIRECT_RPCS:
                print(f"{rpc}: gateway vs Triton, 1 client", flush=True)
                through_gateway = await measure(gateway, tri, scenario(rpc), Load(1), level())
                straight = await measure(direct, tri, scenario(rpc), Load(1), level())
                results.direct[rpc] = (through_gateway, straight)
        finally:
            await direct.close()
        for rpc in RPCS:
            print(f"{rpc}: {', '.join(map(str, CLIENTS))} clients", flush=True)
            results.sweeps[rpc] = [await measure(gateway, tri, scenario(rpc), Load(n), level()) for n in CLIENTS]
        for model, rpc in BATCHED_MODELS.items():
            print(f"{model} without dynamic batching: {rpc}, {BATCHING_CLIENTS} clients", flush=True)
            try:
                with tri.without_dynamic_batching(model):
                    load = Load(BATCHING_CLIENTS)
                    results.batching_off[model] = await measure(gateway, tri, scenario(rpc), load, level())
            except (triton_grpc.InferenceServerException, RuntimeError) as exc:
                results.batching_off[model] = f"reloading it with another config failed: {exc}"
                print(f"  {results.batching_off[model]}")
        results.soak_rate = soak_rate(results.sweeps)
        print(f"soak: {durations.soak:g} s of the mix at {results.soak_rate:g} calls/s", flush=True)
        mix = Scenario(tuple(CallSpec(rpc, weight) for rpc, weight in SOAK_MIX.items()), seed=next(seeds) * 100_000)
        soak = Load(rate=results.soak_rate, arrivals="poisson")
        results.soak = await measure(gateway, tri, mix, soak, Span(duration=durations.soak, warmup=2.0))
    return results


def soak_rate(sweeps: dict[str, list[Measured]]) -> float:
    """SOAK_SHARE of the mix's capacity, were each call to take the machine for 1 / (its RPC's 16-client rps)."""
    busiest = {rpc: runs[-1].run.summary.rps for rpc, runs in sweeps.items()}
    if stalled := [rpc for rpc in SOAK_MIX if not busiest[rpc]]:
        raise SystemExit(f"no {', '.join(stalled)} call ended within a level: give --level-seconds more time")
    seconds_per_call = sum(weight / busiest[rpc] for rpc, weight in SOAK_MIX.items()) / sum(SOAK_MIX.values())
    return round(SOAK_SHARE / seconds_per_call, 1)


# --- RESULTS.md ---------------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = "an NVIDIA GPU is present, but every model runs KIND_CPU" if shutil.which("nvidia-smi") else "no GPU"
    return f"{os.cpu_count()} CPUs ({cpu}), {ram:.0f} GiB RAM, {gpu}; Python {platform.python_version()}"


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{head} (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else head


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def p50(measured: Measured) -> float | None:
    latency = measured.run.summary.latency
    return latency.p50 if latency else None


def errors(measured: Measured) -> str:
    summary = measured.run.summary
    if not summary.error_count:
        return "0"
    return f"{summary.error_count} ({', '.join(f'{code} {n}' for code, n in summary.errors.items())})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def direct_section(results: Results) -> str:
    rows = []
    for rpc, (through_gateway, straight) in results.direct.items():
        g, t = through_gateway.run.summary, straight.run.summary
        cost = (p50(through_gateway) or 0) - (p50(straight) or 0)
        rows.append(
            [
                rpc,
                ms(p50(through_gateway)),
                ms(p50(straight)),
                ms(cost),
                ms(g.latency.p99 if g.latency else None),
                ms(t.latency.p99 if t.latency else None),
                f"{g.rps:.2f} / {t.rps:.2f}",
                f"{errors(through_gateway)} / {errors(straight)}",
            ]
        )
    others = ", ".join(rpc for rpc in RPCS if rpc not in results.direct)
    return "\n\n".join(
        [
            "## The gateway's own cost",
            f"Each RPC through the gateway vs the model calls the gateway makes for it, sent to Triton straight "
            f"through the gateway's own Triton client (deploy/loadtest.py), one client, {results.durations.level:g} s "
            f"each. The difference is the gateway's gRPC front, checks, cache lookup (bypassed) and streaming. "
            f"{others} have no like-for-like direct form (uploads, streams the gateway shapes), so they are not "
            f"compared.",
            table(
                [
                    "RPC",
                    "gateway p50",
                    "Triton p50",
                    "gateway's cost (p50)",
                    "gateway p99",
                    "Triton p99",
                    "rps gateway / Triton",
                    "errors gateway / Triton",
                ],
                rows,
            ),
            "![gateway vs Triton](loadtest-gateway-vs-triton.png)",
        ]
    )


def batches_cell(measured: Measured, model: str | None) -> str:
    if model is None:
        return "-"
    per = measured.batches.get(model, Batches(0, 0, 0)).requests_per_execution
    return "-" if per is None else f"{per:.2f}"


def sweep_section(results: Results) -> str:
    models = {rpc: model for model, rpc in BATCHED_MODELS.items()}
    rows = []
    for rpc, runs in results.sweeps.items():
        for measured in runs:
            summary, first = measured.run.summary, measured.run.summary.first_event
            latency = summary.latency
            rows.append(
                [
                    rpc,
                    str(measured.run.label.removeprefix("concurrency ")),
                    f"{summary.rps:.2f}",
                    ms(latency.p50 if latency else None),
                    ms(latency.p90 if latency else None),
                    ms(latency.p99 if latency else None),
                    ms(first.p50 if first else None),
                    errors(measured),
                    batches_cell(measured, models.get(rpc)),
                ]
            )
    return "\n\n".join(
        [
            "## Throughput at 1, 4 and 16 clients",
            f"Each RPC alone through the gateway, closed loop (each client sends its next call when its last one "
            f"ends), {results.durations.level:g} s per level after {WARMUP_SECONDS:g} s of warm-up, every call with "
            f"its own seed and prompt, the result cache bypassed. Short songs (2 bars), 1 s of generated audio, 3 s "
            f"chords to transcribe and separate (clients/loadtest/scenario.py). The last column is what Triton's "
            f"statistics say of the RPC's batched model during the level (its warm-up included): requests answered "
            f"per execution (1.00: each ran alone; above it, dynamic batching merged them). A level's rps counts its "
            f"calls over its seconds up to the end of its last call, as ghz does.",
            table(
                [
                    "RPC",
                    "clients",
                    "rps",
                    "p50",
                    "p90",
                    "p99",
                    "first event p50",
                    "errors",
                    "requests/execution",
                ],
                rows,
            ),
            "![throughput and median latency by clients](loadtest-throughput.png)",
        ]
    )


def batching_section(results: Results) -> str:
    rows, missing = [], []
    for model, off in results.batching_off.items():
        rpc = BATCHED_MODELS[model]
        on = results.sweeps[rpc][CLIENTS.index(BATCHING_CLIENTS)]
        if isinstance(off, str):
            missing.append(f"- {model}: {off}")
            continue
        on_s, off_s = on.run.summary, off.run.summary
        rows.append(
            [
                model,
                rpc,
                f"{off_s.rps:.2f}",
                f"{on_s.rps:.2f}",
                f"{on_s.rps / off_s.rps:.2f}x" if off_s.rps else "-",
                ms(p50(off)),
                ms(p50(on)),
                batches_cell(off, model),
                batches_cell(on, model),
                f"{errors(off)} / {errors(on)}",
            ]
        )
    parts = [
        "## What dynamic batching buys",
        f"Each batched model reloaded without `dynamic_batching` (Triton's load_model with a config override: its "
        f"own config less that block, so Triton runs requests one by one), its RPC run at {BATCHING_CLIENTS} "
        f'clients for {results.durations.level:g} s, then its own config loaded back. "On" is the '
        f"{BATCHING_CLIENTS}-client run of the throughput table.",
        table(
            [
                "model",
                "RPC",
                "rps off",
                "rps on",
                "on / off",
                "p50 off",
                "p50 on",
                "requests/execution off",
                "requests/execution on",
                "errors off / on",
            ],
            rows,
        ),
    ]
    if missing:
        parts.append("Not measured with batching off:\n\n" + "\n".join(missing))
    parts.append("![batching off vs on](loadtest-batching.png)")
    return "\n\n".join(parts)


def soak_section(results: Results) -> str:
    assert results.soak is not None
    summary = results.soak.run.summary
    latency, first = summary.latency, summary.first_event
    mix = ", ".join(f"{rpc} {weight}" for rpc, weight in SOAK_MIX.items())
    verdict = "held it with zero errors" if summary.error_count == 0 else f"did NOT hold it: {errors(results.soak)}"
    batched = ", ".join(
        f"{model} {batches_cell(results.soak, model)}" for model in BATCHED_MODELS if model in results.soak.batches
    )
    return "\n\n".join(
        [
            f"## {results.durations.soak:g} s of mixed load",
            f"An open loop (Poisson arrivals) of every RPC, weighted {mix}, at {results.soak_rate:g} calls a second: "
            f"{SOAK_SHARE:.0%} of the capacity the {BATCHING_CLIENTS}-client runs suggest for this mix (each call "
            f"taken to occupy the machine for 1 / its RPC's {BATCHING_CLIENTS}-client rps), after 2 s of warm-up. "
            f"The stack {verdict}.",
            table(
                ["calls", "rps", "errors", "p50", "p90", "p99", "max", "first event p50"],
                [
                    [
                        str(summary.count),
                        f"{summary.rps:.2f}",
                        errors(results.soak),
                        *(ms(getattr(latency, name)) if latency else "-" for name in ("p50", "p90", "p99", "max")),
                        ms(first.p50 if first else None),
                    ]
                ],
            ),
            f"Requests per execution meanwhile (dynamic batching back on): {batched}.",
            "![soak](loadtest-soak.png)",
        ]
    )


def reading(results: Results) -> str:
    """A few sentences drawn from the figures, so that they stay true when the file is regenerated."""
    lines = []
    costs = {rpc: (p50(g) or 0) - (p50(t) or 0) for rpc, (g, t) in results.direct.items()}
    if costs:
        lines.append(
            "- The gateway's own cost per call at one client: "
            + ", ".join(f"{rpc} {ms(cost)}" for rpc, cost in costs.items())
            + ". It matters only for the fast calls (GenerateMidi); the rest is the models' time."
        )
    scaling = {
        rpc: runs[-1].run.summary.rps / runs[0].run.summary.rps
        for rpc, runs in results.sweeps.items()
        if runs[0].run.summary.rps
    }
    lines.append(
        f"- From 1 to {CLIENTS[-1]} clients throughput grows by "
        + ", ".join(f"{rpc} {factor:.1f}x" for rpc, factor in scaling.items())
        + f" on {os.cpu_count()} CPUs: past the cores, more clients mostly queue (latency grows with them)."
    )
    gains, unclean = [], []
    for model, off in results.batching_off.items():
        if isinstance(off, str):
            continue
        on = results.sweeps[BATCHED_MODELS[model]][CLIENTS.index(BATCHING_CLIENTS)].run.summary
        merged = off.batches.get(model, Batches(0, 0, 0)).requests_per_execution
        if off.run.summary.error_count or not off.run.summary.rps:
            unclean.append(f"{model} failed {errors(off)} of {off.run.summary.count} calls without its batcher")
        elif merged is not None and merged > 1.05:
            unclean.append(f"{model} still ran {merged:.2f} requests per execution without its batcher")
        else:
            gains.append(f"{model} {on.rps / off.run.summary.rps:.2f}x")
    if gains:
        lines.append(
            f"- Dynamic batching at {BATCHING_CLIENTS} clients (rps on / off): {', '.join(gains)}. Batches form "
            f"wherever requests queue; what they buy on a CPU depends on how much of a model's work is shared by a "
            f"batch (one onnxruntime call for basic_pitch's windows) rather than looped over inside it."
        )
    if unclean:
        lines.append(f"- Not a clean comparison, so no figure is drawn from it: {'; '.join(unclean)}.")
    if results.soak is not None:
        summary = results.soak.run.summary
        lines.append(
            f"- The mixed soak at {results.soak_rate:g} calls/s ended with {summary.error_count} errors in "
            f"{summary.count} calls."
        )
    return "## Reading\n\n" + "\n".join(lines)


def results_markdown(results: Results, started: datetime, seconds: float) -> str:
    header = "\n".join(
        [
            "# Load-test results",
            "",
            f"Generated by `{COMMAND}` (benchmarks/loadtest_report.py) from one run on one machine; do not edit by "
            "hand.",
            "",
            f"- Machine: {machine()}",
            f"- Date: {started:%Y-%m-%d %H:%M} UTC, the run took {seconds / 60:.1f} min",
            f"- Commit: {commit()}",
            "- Stack: the embedded one (redis-server, tritonserver in explicit model control, the gateway) on "
            "loopback, started by the script; demucs is a random HTDemucs and musicgen audiocraft's tiny "
            "'debug-melody' model (no weights can be downloaded here), so Separate's and GenerateAudio's figures are "
            "of those small models.",
        ]
    )
    sections = [header, direct_section(results), sweep_section(results), batching_section(results)]
    sections += [soak_section(results), reading(results)]
    return "\n\n".join(sections) + "\n"


# --- plots --------------------------------------------------------------------------------------------------------


def throughput_plot(results: Results, path: Path) -> None:
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    rps_axes, latency_axes = figure.subplots(1, 2)
    for index, (rpc, runs) in enumerate(results.sweeps.items()):
        colour = f"C{index}"
        rps_axes.plot(CLIENTS, [m.run.summary.rps for m in runs], marker="o", color=colour, label=rpc)
        latency_axes.plot(CLIENTS, [p50(m) or float("nan") for m in runs], marker="o", color=colour, label=rpc)
    for axes in (rps_axes, latency_axes):
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_xticks(CLIENTS, [str(n) for n in CLIENTS])
        axes.set_xlabel("clients")
    rps_axes.set(title="Throughput", ylabel="calls/s")
    latency_axes.set(title="Median latency", ylabel="seconds")
    rps_axes.legend(fontsize="small")
    figure.savefig(path, format="png", dpi=80)


def relabelled(measured: Measured, label: str) -> Run:
    return Run(label, measured.run.summary, measured.run.results)


def write_plots(results: Results, folder: Path) -> list[Path]:
    paths = [folder / "loadtest-throughput.png"]
    throughput_plot(results, paths[0])
    pairs = [
        relabelled(run, f"{rpc} {where}")
        for rpc, (g, t) in results.direct.items()
        for run, where in ((g, "gateway"), (t, "Triton"))
    ]
    png_report(pairs, folder / "loadtest-gateway-vs-triton.png")
    batching = []
    for model, off in results.batching_off.items():
        if isinstance(off, str):
            continue
        on = results.sweeps[BATCHED_MODELS[model]][CLIENTS.index(BATCHING_CLIENTS)]
        batching += [relabelled(off, f"{model} off"), relabelled(on, f"{model} on")]
    png_report(batching, folder / "loadtest-batching.png")
    assert results.soak is not None
    png_report([relabelled(results.soak, f"mix at {results.soak_rate:g}/s")], folder / "loadtest-soak.png")
    paths += [
        folder / name for name in ("loadtest-gateway-vs-triton.png", "loadtest-batching.png", "loadtest-soak.png")
    ]
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="folder of RESULTS.md")
    parser.add_argument("--level-seconds", type=float, default=Durations.level, help="each run of the tables")
    parser.add_argument("--soak-seconds", type=float, default=Durations.soak, help="the mixed load")
    args = parser.parse_args(argv)
    durations = Durations(level=args.level_seconds, soak=args.soak_seconds)
    started, began = datetime.now(UTC), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dgx-loadtest-") as scratch:
        data = Path(scratch)
        write_random_htdemucs(data / "weights", "htdemucs")
        settings = settings_on_free_ports(
            data, weights_dir=data / "weights", demucs_model="htdemucs", musicgen_model="debug-melody"
        )
        print("starting the stack", flush=True)
        with Stack(settings) as stack:
            tri = Triton(stack)
            try:
                results = asyncio.run(measure_all(stack, tri, durations))
            finally:
                tri.close()
    args.out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(results, args.out)
    markdown = args.out / "RESULTS.md"
    markdown.write_text(results_markdown(results, started, time.monotonic() - began))
    print(f"wrote {markdown} and {', '.join(path.name for path in plots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
