"""`dgx-music loadtest` against the real stack (issue #13): a short closed-loop run of GenerateMidi whose JSON report
adds up, and an SLO it cannot keep exiting 75 for CI to gate on."""

import json
import subprocess
import sys
from pathlib import Path

from clients.cli import EXIT_RETRY_LATER
from deploy.launcher import Stack


def loadtest(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "clients.cli", "loadtest", *args, "--server", stack.gateway_target]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_a_short_run_reports_every_call_with_ordered_percentiles(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    done = loadtest(stack, "--rpc", "GenerateMidi", "--concurrency", "2", "--duration", "3s", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "Summary: concurrency 2" in done.stdout
    (run,) = json.loads(out.read_text())["runs"]
    summary = run["summary"]
    assert summary["count"] == summary["successes"] + sum(summary["errors"].values()) == len(run["results"])
    assert summary["count"] > 0
    assert summary["errors"] == {}
    latency = summary["latency"]
    assert latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert summary["rps"] > 0


def test_an_slo_the_run_cannot_keep_exits_75(stack: Stack) -> None:
    done = loadtest(stack, "--requests", "2", "--slo", "p50=1ms,rps=100000")
    assert done.returncode == EXIT_RETRY_LATER, done.stderr
    told = " ".join(done.stderr.split())
    assert "SLO missed" in told
    assert "over the SLO's 1.00 ms" in told
