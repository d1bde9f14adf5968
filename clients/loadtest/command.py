"""`dgx-music loadtest`: the harness (clients.loadtest) as a command, joined to the CLI by clients.cli."""

import asyncio
import json
import re
import signal
import sys
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, cast

import click
from rich.live import Live
from rich.markup import escape

from clients.cli import EXIT_RETRY_LATER, STDIO, Refused, Server, _errors, _write_output, console, server_option
from clients.client import AsyncMusicClient
from clients.loadtest.report import PlotsUnavailable, html_report, json_report, png_report, text_report
from clients.loadtest.runner import ARRIVALS, Arrivals, GatewayTarget, Load, Span, Tally, Target, run_levels
from clients.loadtest.scenario import RPCS, Payloads, Scenario, ScenarioError, read_prompts
from clients.loadtest.stats import SLO_HELP, Run, Slo, SloSpecError

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "": 1.0}
_DURATION_PATTERN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|)")
LOADTEST_EXIT_HELP = (
    "Exit codes: 0 the run ended and kept the SLO (failed calls are figures in the report, not a failure of the "
    "command); 75 it missed the SLO, or no gateway answered; 2 bad input or usage; 130 stopped with Ctrl-C (the "
    "report says what ran until then)."
)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
_DEFAULT_DURATION = 10.0


class _Seconds(click.ParamType[float]):
    """A duration: 10s, 500ms, 2m, or a number of seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = _DURATION_PATTERN.fullmatch(str(value).strip().lower())
        if match is None:
            self.fail(f"{value!r} is not a duration: 10s, 500ms, 2m", param, ctx)
        number, unit = match.groups()
        return float(number) * _DURATION_UNITS[unit]


class _Levels(click.ParamType[tuple[int, ...]]):
    """One number, or several separated by commas (a sweep): 1,4,16."""

    name = "n[,n...]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            levels = tuple(int(part) for part in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not whole numbers separated by commas: 1,4,16", param, ctx)
        if any(level < 1 for level in levels):
            self.fail(f"{value!r}: each level is at least 1", param, ctx)
        return levels


def _slo(ctx: click.Context, param: click.Parameter, spec: str | None) -> Slo | None:
    try:
        return Slo.parse(spec) if spec is not None else None
    except SloSpecError as exc:
        raise click.BadParameter(str(exc)) from exc


_REPORT_FILE = click.Path(dir_okay=False, allow_dash=True, path_type=Path)


@click.command(epilog=LOADTEST_EXIT_HELP)
@click.option("--rpc", type=click.Choice(RPCS), help="the RPC each call makes  [default: GenerateMidi]")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a weighted mix of calls instead of --rpc: a TOML file of [[call]] tables (rpc, weight, and the payload's "
    "prompts, bars, seconds)",
)
@click.option(
    "--concurrency", type=_Levels(), help="closed loop: calls at once; several (1,4,16) run one after another  [1]"
)
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="open loop: calls a second")
@click.option("--arrivals", type=click.Choice(ARRIVALS), default="poisson", show_default=True, help="open loop")
@click.option(
    "--max-in-flight",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="open loop: the most calls running at once; an arrival over it is not sent and counts as DROPPED",
)
@click.option(
    "--duration", type=_Seconds(), help=f"how long each level sends calls: 30s, 500ms, 2m  [{_DEFAULT_DURATION:g}s]"
)
@click.option("--requests", type=click.IntRange(min=1), help="calls each level sends, instead of a duration")
@click.option(
    "--warmup", type=_Seconds(), default="0s", show_default=True, help="sent first at each level, not counted"
)
@click.option(
    "--bypass-cache/--use-cache",
    default=True,
    show_default=True,
    help="whether the server's result cache may answer (a cached answer would measure the cache, not the models)",
)
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="prompts, one a line, taken in turn (default: a built-in list)",
)
@click.option("--seed", type=int, default=0, show_default=True, help="the first call's seed; each call the next")
@click.option("--json", "json_file", type=_REPORT_FILE, help="every figure and each call's timings (- for stdout)")
@click.option("--html", "html_file", type=_REPORT_FILE, help="a report with plots, one HTML file (needs matplotlib)")
@click.option("--png", "png_file", type=_REPORT_FILE, help="latency over time and its histogram (needs matplotlib)")
@click.option("--slo", callback=_slo, help=f"{SLO_HELP}; a level that misses one exits 75")
@click.option(
    "--triton",
    metavar="HOST:PORT",
    help="call Triton's gRPC endpoint here instead of the gateway, the models each RPC makes (GenerateMidi, Compose, "
    "Render): the gateway's own cost is the difference (needs the server extra)",
)
@server_option
@click.option("--timeout", default=120.0, show_default=True, help="each call's deadline in seconds")
def loadtest(
    rpc: str | None,
    scenario: Path | None,
    concurrency: tuple[int, ...] | None,
    rate: float | None,
    arrivals: Arrivals,
    max_in_flight: int,
    duration: float | None,
    requests: int | None,
    warmup: float,
    bypass_cache: bool,
    prompts_file: Path | None,
    seed: int,
    json_file: Path | None,
    html_file: Path | None,
    png_file: Path | None,
    slo: Slo | None,
    triton: str | None,
    server: Server,
    timeout: float,
) -> None:
    """Drives the gateway (or, with --triton, Triton itself) with calls and reports what it held: count, errors by
    status, requests a second, latency percentiles and a histogram (and for streaming RPCs the time to the first
    event). Each call has its own seed, prompts are taken in turn and the cache is bypassed, so that neither fakes
    the figures. Ctrl-C stops at once: the calls in flight are cancelled, the server left with no work nobody waits
    for."""
    if rpc is not None and scenario is not None:
        raise click.UsageError("--rpc and --scenario both say what to call: give one")
    if rate is not None and concurrency is not None:
        raise click.UsageError("--rate (open loop) and --concurrency (closed loop): give one")
    if duration is not None and requests is not None:
        raise click.UsageError("--duration and --requests both say when a level ends: give one")
    if duration is None and requests is None:
        duration = _DEFAULT_DURATION
    span = Span(duration=duration, requests=requests, warmup=warmup)
    if rate is not None:
        loads = [Load(rate=rate, arrivals=arrivals, max_in_flight=max_in_flight)]
    else:
        loads = [Load(concurrency=level) for level in concurrency or (1,)]
    with _errors():
        try:
            options: dict[str, Any] = {"bypass_cache": bypass_cache, "seed": seed}
            if prompts_file is not None:
                options["prompts"] = read_prompts(prompts_file)
            plan = Scenario.from_toml(scenario, **options) if scenario else Scenario.single(rpc or RPCS[0], **options)
        except (ScenarioError, UnicodeDecodeError) as exc:
            raise Refused(str(exc)) from exc
        if triton is not None and (unknown := plan.rpcs - set(_triton_target().rpcs)):
            takes = ", ".join(_triton_target().rpcs)
            raise click.UsageError(f"--triton takes {takes}, not {', '.join(sorted(unknown))}")
        runs, interrupted = asyncio.run(_load_test(server, timeout, plan, loads, span, triton))
    _report_runs(runs, json_file, html_file, png_file)
    missed = [f"{run.label}: {sentence}" for run in runs for sentence in (slo.missed(run.summary) if slo else [])]
    for sentence in missed:
        console.print(f"[red]SLO missed[/red] {escape(sentence)}")
    if interrupted:
        console.print("stopped: the calls in flight were cancelled")
        sys.exit(EXIT_INTERRUPTED)
    if missed:
        sys.exit(EXIT_RETRY_LATER)


async def _load_test(
    server: Server, deadline: float, scenario: Scenario, loads: list[Load], span: Span, triton: str | None = None
) -> tuple[list[Run], bool]:
    """The runs, and whether Ctrl-C stopped them (it stops the run, not the program, so that the report still
    comes; only the main thread can take the signal)."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    interruptible = threading.current_thread() is threading.main_thread()
    if interruptible:
        loop.add_signal_handler(signal.SIGINT, stopped.set)
    try:
        if triton is not None:
            direct = _triton_target()(triton, deadline)
            try:
                with _LoadProgress(span) as progress:
                    runs = await run_levels(direct, Payloads(scenario), loads, span, stopped=stopped, on_tick=progress)
            finally:
                await direct.close()
            return runs, stopped.is_set()
        async with AsyncMusicClient(server.target, timeout=deadline, tls=server.tls, api_key=server.api_key) as client:
            await client.health()  # no gateway there: said at once, in words, and exit 75
            with _LoadProgress(span) as progress:
                runs = await run_levels(
                    GatewayTarget(client), Payloads(scenario), loads, span, stopped=stopped, on_tick=progress
                )
    finally:
        if interruptible:
            loop.remove_signal_handler(signal.SIGINT)
    return runs, stopped.is_set()


class _DirectTarget(Target, Protocol):
    """A Target on Triton itself (deploy.loadtest.TritonTarget): the RPCs it takes, and its connection to close."""

    rpcs: tuple[str, ...]

    def __init__(self, url: str, timeout: float) -> None: ...

    async def close(self) -> None: ...


def _triton_target() -> type[_DirectTarget]:
    """The server's Target on Triton, found through its entry point: the client imports no server code."""
    for entry_point in entry_points(group="dgx_music.loadtest_targets", name="triton"):
        try:
            return cast(type[_DirectTarget], entry_point.load())
        except ImportError as exc:
            raise click.UsageError(f"--triton needs the server ({exc}): pip install 'dgx-music[server]'") from exc
    raise click.UsageError("--triton needs the server installed: pip install 'dgx-music[server]'")


class _LoadProgress:
    """The live progress line of a load test, on stderr: the level, its time or calls, errors, rate, in flight."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.live = Live(console=console, transient=True, refresh_per_second=8)

    def __enter__(self) -> "_LoadProgress":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def __call__(self, tally: Tally) -> None:
        if tally.elapsed < 0:
            self.live.update(f"{tally.label}: warming up, {-tally.elapsed:.1f} s left, {tally.in_flight} in flight")
            return
        if self.span.requests is not None:
            done = f"{tally.done}/{self.span.requests} calls"
        else:
            done = f"{min(tally.elapsed, self.span.duration or 0):.1f}/{self.span.duration:g} s, {tally.done} calls"
        rate = tally.done / tally.elapsed if tally.elapsed > 0 else 0.0
        self.live.update(f"{tally.label}: {done}, {tally.errors} errors, {rate:.1f}/s, {tally.in_flight} in flight")


def _report_runs(runs: list[Run], json_file: Path | None, html_file: Path | None, png_file: Path | None) -> None:
    """Each level's ghz-style report (on stdout, or on stderr when the JSON goes there), then the files asked for."""
    for run in runs:
        report = text_report(run.summary)
        if json_file == STDIO:
            console.print(escape(report), highlight=False)
        else:
            click.echo(report)
    if json_file is not None:
        _write_output(json_file, (json.dumps(json_report(runs)) + "\n").encode())
    try:
        if html_file is not None:
            html_report(runs, html_file)
        if png_file is not None:
            png_report(runs, png_file)
    except PlotsUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
