"""`dgx-music loadtest`'s runner and command against the real gateway in process, on FakeModels (the real composer
and renderer) and fakeredis (issue #13): closed and open loops, a sweep, an exact number of calls, a warmup left out,
a weighted mix from a TOML file, SLO exit codes, and calls cancelled on the server when the harness stops early."""

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clients.cli import EXIT_RETRY_LATER, main
from clients.client import AsyncMusicClient
from clients.loadtest.runner import DROPPED, GatewayTarget, Load, Span, run_levels
from clients.loadtest.scenario import RPCS, STREAMING_RPCS, Payloads, Scenario, ScenarioError
from clients.loadtest.stats import Percentiles, Run
from deploy.settings import Settings
from dgxmusic.models import BASIC_PITCH, FLUIDSYNTH, TEXT2MIDI
from fake_models import FakeModels, gateway_on_fakes
from gateway.server import Gateway

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Running:
    models: FakeModels
    gateway: Gateway
    client: AsyncMusicClient
    target: str

    @property
    def calls_running(self) -> int:
        """MusicService calls the gateway is serving now."""
        return self.gateway.service.admission.running


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    settings = Settings(triton_url="fake-models:8001", metrics_port=0, data_dir=tmp_path_factory.mktemp("data"))
    async with gateway_on_fakes(settings) as (models, gateway, target):
        client = AsyncMusicClient(target, timeout=60)
        try:
            yield Running(models, gateway, client, target)
        finally:
            await client.close()


async def run_one(running: Running, rpc: str, load: Load, span: Span) -> Run:
    (run,) = await run_levels(GatewayTarget(running.client), Payloads(Scenario.single(rpc)), [load], span)
    return run


def assert_ordered(figures: Percentiles | None) -> None:
    assert figures is not None
    assert figures.min <= figures.p50 <= figures.p90 <= figures.p95 <= figures.p99 <= figures.max
    assert figures.min <= figures.mean <= figures.max


async def loadtest(*args: str) -> Result:
    """`dgx-music loadtest ARGS` in a thread of its own (it runs its own event loop), as a user runs it."""
    return await asyncio.to_thread(CliRunner().invoke, main, ["loadtest", *args])


async def wait_until(condition: object, seconds: float = 5.0) -> None:
    for _ in range(round(seconds / 0.02)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not so within the time")


async def test_a_closed_loop_counts_every_call_and_orders_its_percentiles(running: Running) -> None:
    run = await run_one(running, "GenerateMidi", Load(concurrency=2), Span(duration=0.5))
    summary = run.summary
    assert run.label == summary.label == "concurrency 2"
    assert summary.count == summary.successes + sum(summary.errors.values()) == len(run.results)
    assert summary.count >= 2
    assert summary.errors == {}
    assert_ordered(summary.latency)
    assert summary.first_event is None  # unary: no first event
    assert all(0 <= result.started < 0.6 for result in run.results)


async def test_render_streams_and_each_call_is_rendered_afresh(running: Running) -> None:
    rendered = running.models.calls[FLUIDSYNTH]
    run = await run_one(running, "Render", Load(concurrency=2), Span(requests=4))
    summary = run.summary
    assert summary.count == summary.successes == 4
    assert_ordered(summary.latency)
    assert_ordered(summary.first_event)
    assert all(r.first_event is not None and r.first_event <= r.latency for r in run.results)
    assert running.models.calls[FLUIDSYNTH] - rendered == 4  # the cache was bypassed: no answer came from it


@pytest.mark.parametrize("rpc", RPCS)
async def test_each_rpcs_calls_carry_payloads_the_server_takes(running: Running, rpc: str) -> None:
    run = await run_one(running, rpc, Load(concurrency=2), Span(requests=2))
    assert run.summary.count == run.summary.successes == 2, run.summary.errors
    assert (run.summary.first_event is not None) == (rpc in STREAMING_RPCS)


async def test_an_exact_number_of_calls_is_sent(running: Running) -> None:
    run = await run_one(running, "GenerateMidi", Load(concurrency=3), Span(requests=7))
    assert run.summary.count == 7


async def test_the_warmups_calls_are_made_and_left_out(running: Running) -> None:
    composed = running.models.calls[TEXT2MIDI]
    run = await run_one(running, "GenerateMidi", Load(concurrency=2), Span(requests=3, warmup=0.3))
    assert run.summary.count == 3
    assert all(result.started >= 0 for result in run.results)
    assert running.models.calls[TEXT2MIDI] - composed > 3


async def test_an_open_loop_sends_at_its_rate(running: Running) -> None:
    run = await run_one(running, "GenerateMidi", Load(rate=20, arrivals="constant"), Span(duration=0.5))
    assert run.label == "rate 20/s constant"
    assert 9 <= run.summary.count <= 10  # at 0, 0.05 ... 0.45 s (the last one late on a busy machine)
    starts = sorted(result.started for result in run.results)
    assert (starts[-1] - starts[0]) / (len(starts) - 1) == pytest.approx(0.05, abs=0.01)
    poisson = await run_one(running, "GenerateMidi", Load(rate=40), Span(requests=5))
    assert poisson.summary.count == poisson.summary.successes == 5


async def test_arrivals_over_the_in_flight_cap_are_dropped_not_sent(running: Running) -> None:
    release = running.models.pause(TEXT2MIDI)
    try:
        overloaded = asyncio.create_task(
            run_one(running, "GenerateMidi", Load(rate=50, arrivals="constant", max_in_flight=2), Span(requests=5))
        )
        await wait_until(lambda: running.calls_running == 2)
        await asyncio.sleep(0.1)
        release.set()
        run = await overloaded
    finally:
        release.set()
    assert run.summary.count == 5
    assert run.summary.successes == 2
    assert run.summary.errors == {DROPPED: 3}


async def test_a_sweep_runs_each_level_in_turn(running: Running) -> None:
    loads = [Load(concurrency=1), Load(concurrency=2)]
    scenario = Payloads(Scenario.single("GenerateMidi"))
    runs = await run_levels(GatewayTarget(running.client), scenario, loads, Span(requests=4))
    assert [run.label for run in runs] == ["concurrency 1", "concurrency 2"]
    assert [run.summary.count for run in runs] == [4, 4]


async def test_a_scenario_mixes_its_calls_by_weight(running: Running, tmp_path: Path) -> None:
    mix = tmp_path / "mix.toml"
    mix.write_text(
        '[[call]]\nrpc = "GenerateMidi"\nweight = 1\nprompts = ["dub techno 120"]\nbars = 1\n\n'
        '[[call]]\nrpc = "Transcribe"\nweight = 1\nseconds = 1\n'
    )
    scenario = Scenario.from_toml(mix, seed=3)
    picked = [spec.rpc for spec, _ in zip(scenario.picks(), range(10), strict=False)]
    composed, transcribed = running.models.calls[TEXT2MIDI], running.models.calls[BASIC_PITCH]
    (run,) = await run_levels(
        GatewayTarget(running.client), Payloads(scenario), [Load(concurrency=2)], Span(requests=10)
    )
    assert run.summary.count == run.summary.successes == 10
    assert running.models.calls[TEXT2MIDI] - composed == picked.count("GenerateMidi") > 0
    assert running.models.calls[BASIC_PITCH] - transcribed >= picked.count("Transcribe") > 0


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("", "no [[call]] table"),
        ('[[call]]\nrpc = "Mix"\n', "rpc 'Mix' is none of"),
        ('[[call]]\nrpc = "Render"\nweight = 0\n', "call 1: weight 0"),
        ('[[call]]\nrpc = "Render"\n[[call]]\nrpc = "Compose"\nbars = "two"\n', "call 2: bars 'two'"),
        ('[[call]]\nrpc = "Render"\ntempo = 3\n', "unknown field 'tempo'"),
        ('rpc = "Render"\n', "unknown key 'rpc'"),
        ("[[call]\n", "not TOML"),
    ],
)
def test_a_bad_scenario_is_refused_naming_its_entry_and_field(tmp_path: Path, toml: str, words: str) -> None:
    path = tmp_path / "mix.toml"
    path.write_text(toml)
    with pytest.raises(ScenarioError, match=words.replace("[", r"\[").replace("(", r"\(")):
        Scenario.from_toml(path)


async def test_the_command_reports_writes_json_and_exits_75_when_the_slo_is_missed(
    running: Running, tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    common = ["--server", running.target, "--concurrency", "1,2", "--requests", "3"]
    plots = ["--html", str(tmp_path / "run.html"), "--png", str(tmp_path / "run.png")]
    kept = await loadtest(*common, "--json", str(out), *plots, "--slo", "p99=60s,errors=0%")
    assert kept.exit_code == 0, kept.output
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG")
    assert "concurrency 2" in (tmp_path / "run.html").read_text()
    assert "Summary: concurrency 1" in kept.output
    assert "Summary: concurrency 2" in kept.output
    assert "Latency distribution:" in kept.output
    report = json.loads(out.read_text())
    assert [run["label"] for run in report["runs"]] == ["concurrency 1", "concurrency 2"]
    assert all(len(run["results"]) == run["summary"]["count"] == 3 for run in report["runs"])

    missed = await loadtest(*common, "--slo", "rps=100000")
    assert missed.exit_code == EXIT_RETRY_LATER
    assert "SLO missed" in missed.output
    assert "under the SLO's 100000" in " ".join(missed.output.split())


async def test_the_command_refuses_what_it_cannot_do(running: Running, tmp_path: Path) -> None:
    both = await loadtest("--server", running.target, "--rate", "2", "--concurrency", "2")
    assert both.exit_code == 2
    assert "--rate (open loop) and --concurrency" in both.output
    slo = await loadtest("--server", running.target, "--slo", "p99=fast")
    assert slo.exit_code == 2
    assert "'p99=fast'" in slo.output
    (tmp_path / "mix.toml").write_text('[[call]]\nrpc = "Mix"\n')
    mix = await loadtest("--server", running.target, "--scenario", str(tmp_path / "mix.toml"))
    assert mix.exit_code == 2
    assert "rpc 'Mix'" in mix.output


async def test_a_stopped_run_cancels_its_calls_and_the_server_never_runs_them(running: Running) -> None:
    composed = running.models.calls[TEXT2MIDI]
    release = running.models.pause(TEXT2MIDI)
    stopped = asyncio.Event()
    payloads = Payloads(Scenario.single("GenerateMidi"))
    try:
        sweep = [Load(concurrency=3), Load(concurrency=1)]
        running_runs = asyncio.create_task(
            run_levels(GatewayTarget(running.client), payloads, sweep, Span(duration=60), stopped=stopped)
        )
        await wait_until(lambda: running.calls_running == 3)
        stopped.set()
        runs = await asyncio.wait_for(running_runs, 5)
        assert [run.summary.count for run in runs] == [0]  # the calls cancelled are left out; the sweep ends
        await wait_until(lambda: running.calls_running == 0)
    finally:
        release.set()
    await asyncio.sleep(0.2)
    assert running.models.calls[TEXT2MIDI] == composed  # no cancelled call went on to the model


async def test_a_cancelled_harness_cancels_its_calls_on_the_server(running: Running) -> None:
    composed = running.models.calls[TEXT2MIDI]
    release = running.models.pause(TEXT2MIDI)
    payloads = Payloads(Scenario.single("GenerateMidi"))
    try:
        harness = asyncio.create_task(
            run_levels(GatewayTarget(running.client), payloads, [Load(rate=100)], Span(duration=60))
        )
        await wait_until(lambda: running.calls_running >= 4)
        harness.cancel()
        with pytest.raises(asyncio.CancelledError):
            await harness
        await wait_until(lambda: running.calls_running == 0)
    finally:
        release.set()
    await asyncio.sleep(0.2)
    assert running.models.calls[TEXT2MIDI] == composed


async def test_ctrl_c_stops_the_command_which_reports_and_leaves_no_call_running(running: Running) -> None:
    release = running.models.pause(TEXT2MIDI)
    try:
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "clients.cli", "loadtest", "--server", running.target, "--concurrency", "2", "--duration", "60s"),
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await wait_until(lambda: running.calls_running == 2, seconds=20)
        command.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(command.communicate(), 10)
        await wait_until(lambda: running.calls_running == 0)
    finally:
        release.set()
    assert command.returncode == 130, err.decode()
    assert "Summary: concurrency 2" in out.decode()
    assert "calls in flight were cancelled" in err.decode()
