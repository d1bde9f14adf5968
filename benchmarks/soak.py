"""Soak under faults (issue #9): does the stack heal, and is accepted work ever lost? Starts `dgx-music serve` on
free ports in a data directory of its own (models text2midi, fluidsynth and basic_pitch; job leases of 5 s), then for
`--minutes` runs mixed load against it while injecting one fault every `--fault-every` seconds, and prints:

1. every call, by RPC: ok, and failed by status code; failures inside a fault's window (from the fault until the
   stack answered again) and outside any; the longest a failed call took (calls in flight when a process dies
   should fail fast, not at their 30 s deadline);
2. each fault and its recovery time: from the fault until a probe round (health SERVING, GenerateMidi, a Render
   of fresh audio and GetJob, which needs Redis) succeeds and keeps succeeding; and when `serve` said the killed
   process was back;
3. the durable jobs: a Compose job (2-4 bars, uncached) is submitted every 10 s; at the end each (and the
   warm-up's) must have SUCCEEDED, once, with its results readable (jobs lost must be 0), and the attempts they took;
4. resident memory (VmRSS) of the gateway, tritonserver, its python stubs and redis-server, after warm-up and at
   the end (a restarted process's successor at the end: the table says which are not the same processes).

The load: `--clients` threads cycle GenerateMidi, Compose (1-2 bars, half of them bypassing the cache), Render and
Transcribe (a 1.5 s tone), each call with a 30 s deadline; a thread whose call failed waits a second before its next
one, as a client that retries would. The faults, in turn: kill -9 tritonserver, kill -9 redis-server, kill -9 the
gateway, kill -9 a python stub (fluidsynth's, then text2midi's), and SIGSTOP redis-server for 10 s.

Run: `make soak` (or `.venv/bin/python benchmarks/soak.py [--minutes 10] [--fault-every 60] [--json PATH]`);
`--minutes 1 --fault-every 20` is a quick smoke run. Exits non-zero if a job was lost or the stack did not recover.
The data directory (logs/ has gateway.log, triton.log and redis.log; serve.err is `serve`'s own output) is removed
afterwards unless `--data-dir` names one, or the run failed.
"""

import argparse
import contextlib
import functools
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
from rich.console import Console
from rich.table import Table

from clients.client import ComposeResult, MusicClient, compose_request, job_request, song_options
from clients.errors import DgxMusicError
from deploy.launcher import settings_environment, settings_on_free_ports
from deploy.settings import Settings
from dgxmusic.v1 import jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.memory import model_stubs

MODELS = ["text2midi", "fluidsynth", "basic_pitch"]
JOB_LEASE_SECONDS = 5.0
CALL_DEADLINE_SECONDS = 30.0
PROBE_DEADLINE_SECONDS = 10.0  # a Render of 2 bars can take seconds on a loaded 2-core host
PROBE_INTERVAL_SECONDS = 0.5
JOB_EVERY_SECONDS = 10.0
REDIS_STOP_SECONDS = 10.0
# After the load: how long the last fault may take to heal, and the submitted jobs to finish.
RECOVERY_WAIT_SECONDS = 180.0
JOBS_WAIT_SECONDS = 180.0
FAULTS = ("kill -9 tritonserver", "kill -9 redis-server", "kill -9 gateway", "kill -9 python stub", "SIGSTOP redis")
STUB_VICTIMS = ("fluidsynth", "text2midi")
PROMPTS = (
    "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor",
    "lofi hip hop, mellow piano, 80 BPM",
    "techno 130",
    "ambient pads in D major, slow",
    "funk with slap bass, 110 BPM, E minor",
)
T = TypeVar("T")
TERMINAL = (jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED)


def now() -> float:
    return time.monotonic()


@dataclass(frozen=True)
class Call:
    """One RPC as a client saw it: when it ran and how it ended (code None: it succeeded)."""

    rpc: str
    began: float
    ended: float
    code: str | None


def timed(rpc: str, action: Callable[[], T]) -> tuple[Call, T | None]:
    """The call as a client saw it, and its answer (None if it failed)."""
    began = now()
    try:
        answer = action()
    except DgxMusicError as exc:
        return Call(rpc, began, now(), exc.code.name), None
    return Call(rpc, began, now(), None), answer


@dataclass
class Fault:
    kind: str
    at: float
    detail: str
    back_at: float | None = None  # when `serve` said the killed child was back
    recovered_at: float | None = None  # when the probe last started succeeding
    outage_seen: bool = False


@dataclass
class Submitted:
    id: str
    bars: int


@dataclass
class JobCheck:
    id: str
    state: str
    attempts: int
    readable: bool
    problem: str = ""


class ServeProcess:
    """`dgx-music serve` as a child of this script, its stderr time-stamped (to tell when a child came back) and
    kept in the data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lines: list[tuple[float, str]] = []
        self.stopped_redis: int | None = None
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_environment(settings)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "clients.cli", "serve"], env=env, stderr=subprocess.PIPE, text=True
        )
        self.reader = threading.Thread(target=self._read, args=(settings.data_dir / "serve.err",), daemon=True)
        self.reader.start()

    def _read(self, log: Path) -> None:
        assert self.process.stderr is not None
        with log.open("w") as sink:
            for line in self.process.stderr:
                self.lines.append((now(), line.rstrip()))
                sink.write(line)
                sink.flush()

    def said(self, text: str, since: float = 0.0) -> float | None:
        """When serve first wrote a line containing `text` after `since`."""
        return next((at for at, line in list(self.lines) if at >= since and text in line), None)

    def wait_serving(self, timeout: float) -> None:
        deadline = now() + timeout
        while self.said("serving on") is None:
            if self.process.poll() is not None or now() > deadline:
                self.reader.join(timeout=5)
                raise SystemExit("dgx-music serve did not come up:\n" + "\n".join(line for _, line in self.lines))
            time.sleep(0.2)

    def children(self) -> dict[str, int]:
        """The pid of each child (redis, triton, gateway), as the launcher wrote them down (again at each restart)."""
        record: dict[str, list[int]] = json.loads((self.settings.data_dir / "stack.json").read_text())
        return {name: pid for name, (pid, _) in record.items() if name != "launcher"}

    def stop(self) -> int | None:
        """SIGTERM, as an operator stops it; SIGKILL if it is not done in a minute. Its exit status."""
        if self.stopped_redis is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.stopped_redis, signal.SIGCONT)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)
        return self.process.returncode


def inject(kind: str, serve: ServeProcess, stub_turn: int) -> str:
    """Does the fault; what exactly was done. SIGSTOP holds Redis stopped for REDIS_STOP_SECONDS before it returns."""
    children = serve.children()
    if kind == "kill -9 python stub":
        model = STUB_VICTIMS[stub_turn % len(STUB_VICTIMS)]
        stubs = model_stubs(serve.settings.triton_grpc_port).get(model)
        if not stubs:
            return f"no {model} stub to kill"
        pid = stubs[0]
        os.kill(pid, signal.SIGKILL)
        return f"{model} stub pid {pid}"
    if kind == "SIGSTOP redis":
        pid = children["redis"]
        serve.stopped_redis = pid
        os.kill(pid, signal.SIGSTOP)
        time.sleep(REDIS_STOP_SECONDS)
        os.kill(pid, signal.SIGCONT)
        serve.stopped_redis = None
        return f"redis pid {pid} stopped {REDIS_STOP_SECONDS:g} s"
    name = {"kill -9 tritonserver": "triton", "kill -9 redis-server": "redis", "kill -9 gateway": "gateway"}[kind]
    os.kill(children[name], signal.SIGKILL)
    return f"{name} pid {children[name]}"


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def memory(serve: ServeProcess) -> dict[str, tuple[list[int], int]]:
    """The pids and their resident bytes together, of each part of the stack."""
    children = serve.children()
    stubs = sorted(pid for pids in model_stubs(serve.settings.triton_grpc_port).values() for pid in pids)
    parts = {"gateway": [children["gateway"]], "tritonserver": [children["triton"]], "python stubs": stubs}
    parts["redis-server"] = [children["redis"]]
    return {name: (pids, sum(map(rss_bytes, pids))) for name, pids in parts.items()}


def tone(seconds: float = 1.5, sample_rate: int = 22050) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    """An A4 with its octave, for Transcribe."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 880 * t)
    return wave.astype(np.float32), sample_rate


class Soak:
    """The load, the probe and the job submitter, each a thread recording what it saw; the faults from the caller."""

    def __init__(self, serve: ServeProcess, clients: int, midi: bytes, probe_job: str) -> None:
        self.serve = serve
        self.target = f"127.0.0.1:{serve.settings.grpc_port}"
        self.clients = clients
        self.midi = midi
        self.probe_job = probe_job
        self.calls: list[Call] = []
        self.probes: list[Call] = []
        self.submitted: list[Submitted] = []
        self.faults: list[Fault] = []
        self.loading = threading.Event()  # set while load runs
        self.probing = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.loading.set()
        self.probing.set()
        targets: list[Callable[[], None]] = [self._probe, self._submit_jobs]
        targets += [functools.partial(self._load, number) for number in range(self.clients)]
        self.threads = [threading.Thread(target=target, daemon=True) for target in targets]
        for thread in self.threads:
            thread.start()

    def stop_load(self) -> None:
        self.loading.clear()

    def stop(self) -> None:
        self.loading.clear()
        self.probing.clear()
        for thread in self.threads:
            thread.join(timeout=CALL_DEADLINE_SECONDS + 5)

    def _load(self, number: int) -> None:
        rng = random.Random(number)
        audio = tone()
        actions: dict[str, Callable[[MusicClient], object]] = {
            "GenerateMidi": lambda c: c.generate_midi(
                rng.choice(PROMPTS), song_options(bars=rng.choice((1, 2)), seed=rng.randrange(100))
            ),
            "Compose": lambda c: c.compose(
                compose_request(
                    rng.choice(PROMPTS),
                    options=song_options(bars=rng.choice((1, 2)), seed=rng.randrange(100)),
                    bypass_cache=rng.random() < 0.5,
                )
            ),
            "Render": lambda c: c.render(pb.RenderRequest(midi=self.midi, bypass_cache=rng.random() < 0.5)),
            "Transcribe": lambda c: c.transcribe(audio),
        }
        rpcs = itertools.islice(itertools.cycle(actions), number, None)  # each thread starts elsewhere in the cycle
        with MusicClient(self.target, timeout=CALL_DEADLINE_SECONDS) as client:
            for rpc in rpcs:
                if not self.loading.is_set():
                    return
                call, _ = timed(rpc, functools.partial(actions[rpc], client))
                self.calls.append(call)
                if call.code is not None:
                    time.sleep(1.0)

    def _probe(self) -> None:
        """Rounds that each need every part of the stack: the gateway, Triton (text2midi and fluidsynth) and Redis."""
        seed = itertools.count()
        with MusicClient(self.target, timeout=PROBE_DEADLINE_SECONDS) as client:

            def round_trip() -> None:
                if (health := client.health()) != "SERVING":
                    raise DgxMusicError(grpc.StatusCode.UNAVAILABLE, f"health {health}")
                client.generate_midi("techno 130", song_options(bars=1, seed=next(seed)))
                client.render(pb.RenderRequest(midi=self.midi, bypass_cache=True))
                client.get_job(self.probe_job)

            while self.probing.is_set():
                self.probes.append(timed("probe", round_trip)[0])
                time.sleep(PROBE_INTERVAL_SECONDS)

    def _submit_jobs(self) -> None:
        rng = random.Random(1000)
        with MusicClient(self.target, timeout=CALL_DEADLINE_SECONDS) as client:
            for number in itertools.count():
                if not self.loading.is_set():
                    return
                bars = rng.choice((2, 3, 4))
                request = compose_request(rng.choice(PROMPTS), options=song_options(bars=bars), bypass_cache=True)
                # Labelled, so that a job the server holds though its SubmitJob failed here can be told apart.
                submit = functools.partial(client.submit_job, job_request(request), request_id=f"soak-job-{number}")
                call, job = timed("SubmitJob", submit)
                self.calls.append(call)
                if job is not None:
                    self.submitted.append(Submitted(job.id, bars))
                deadline = call.began + JOB_EVERY_SECONDS
                while self.loading.is_set() and now() < deadline:
                    time.sleep(0.2)

    def recovery(self, fault: Fault, until: float) -> None:
        """From the probe rounds between the fault and `until` (the next fault, which a round that ends after it may
        have met): when they last started succeeding, if they have."""
        rounds = [probe for probe in list(self.probes) if fault.at <= probe.began and probe.ended < until]
        failed = [index for index, probe in enumerate(rounds) if probe.code is not None]
        fault.outage_seen = bool(failed)
        after = rounds[failed[-1] + 1 :] if failed else rounds
        fault.recovered_at = after[0].ended if after else None


def run_faults(soak: Soak, serve: ServeProcess, minutes: float, fault_every: float, console: Console) -> None:
    """The load runs `minutes`; a fault every `fault_every` seconds from half that in; then waits for the last to
    heal."""
    began = now()
    end = began + minutes * 60
    kinds = itertools.cycle(FAULTS)
    stubs = itertools.count()
    next_fault = began + fault_every / 2
    while now() < end:
        if now() >= next_fault:
            kind = next(kinds)
            at = now()
            detail = inject(kind, serve, next(stubs) if kind == "kill -9 python stub" else 0)
            soak.faults.append(Fault(kind, at, detail))
            console.log(f"+{at - began:5.0f} s  {kind}: {detail}")
            next_fault += fault_every
        time.sleep(0.2)
    soak.stop_load()
    console.log("load over; waiting for the last fault to heal")
    deadline = now() + RECOVERY_WAIT_SECONDS
    while soak.faults and now() < deadline:
        soak.recovery(soak.faults[-1], float("inf"))
        last = soak.faults[-1]
        # Healed: the probes have succeeded for a while (and the fault is old enough for them to have noticed it).
        if last.recovered_at is not None and now() - last.recovered_at > 5 and now() - last.at > 15:
            break
        time.sleep(1)
    for fault, following in zip(soak.faults, [*soak.faults[1:], None], strict=True):
        soak.recovery(fault, following.at if following else float("inf"))
        child = {"kill -9 tritonserver": "triton", "kill -9 redis-server": "redis", "kill -9 gateway": "gateway"}
        if fault.kind in child:
            fault.back_at = serve.said(f"{child[fault.kind]} is back", since=fault.at)


def check_jobs(target: str, submitted: list[Submitted]) -> tuple[list[JobCheck], list[jobs_pb2.Job]]:
    """Waits (up to JOBS_WAIT_SECONDS in all) for each job to end; each must have SUCCEEDED with its results, and
    be listed once. Also answers the jobs listed that no SubmitJob answered (one that failed here, yet was kept)."""
    deadline = now() + JOBS_WAIT_SECONDS
    checks: list[JobCheck] = []
    with MusicClient(target, timeout=CALL_DEADLINE_SECONDS) as client:
        for job in submitted:
            checks.append(_check_job(client, job, deadline))
        listed = list(_listed_jobs(client))
    times_listed = Counter(job.id for job in listed)
    for check in checks:
        if times_listed[check.id] != 1:
            check.problem += f" listed {times_listed[check.id]} times"
    expected = {job.id for job in submitted}
    return checks, [job for job in listed if job.id not in expected]


def _listed_jobs(client: MusicClient) -> Iterator[jobs_pb2.Job]:
    try:
        yield from client.iter_jobs()
    except DgxMusicError as exc:
        print(f"ListJobs failed: {exc}", file=sys.stderr)


def _check_job(client: MusicClient, job: Submitted, deadline: float) -> JobCheck:
    last_error = ""
    while now() < deadline:
        try:
            outcome = client.watch_job(job.id)
        except DgxMusicError as exc:
            last_error = f"{exc.code.name}: {exc.message}"
            time.sleep(1)
            continue
        state = jobs_pb2.JobState.Name(outcome.job.state)
        if outcome.job.state not in TERMINAL:
            continue
        result = outcome.result
        readable = (
            isinstance(result, ComposeResult)
            and result.info.bars == job.bars
            and result.mix.size > 0
            and result.midi.startswith(b"MThd")
        )
        problem = "" if outcome.succeeded else f"{outcome.job.error_code}: {outcome.job.error_message}"
        if outcome.succeeded and not readable:
            problem = "its results are missing or not the request's"
        return JobCheck(job.id, state, outcome.job.attempts, readable, problem)
    return JobCheck(job.id, "UNFINISHED", 0, False, f"not done in {JOBS_WAIT_SECONDS:g} s {last_error}")


def mib(value: int) -> str:
    return f"{value / 2**20:.0f}"


def report(
    soak: Soak,
    checks: list[JobCheck],
    unanswered: list[jobs_pb2.Job],
    memory_at: tuple[dict[str, tuple[list[int], int]], dict[str, tuple[list[int], int]]],
    load_began: float,
    console: Console,
) -> dict[str, Any]:
    """Prints the figures and answers them (for --json)."""
    windows = [(fault.at, fault.recovered_at or float("inf")) for fault in soak.faults]

    def in_window(call: Call) -> bool:
        return any(call.ended >= start and call.began <= end for start, end in windows)

    calls = table_of_calls(soak.calls, in_window, console)
    faults = table_of_faults(soak.faults, load_began, console)
    lost = [check for check in checks if check.state != "JOB_STATE_SUCCEEDED" or not check.readable or check.problem]
    attempts = Counter(check.attempts for check in checks)
    console.print(
        f"jobs: {len(checks)} submitted, {len(checks) - len(lost)} succeeded with their results, "
        f"[bold]{len(lost)} lost[/bold]; attempts: "
        + ", ".join(f"{n} run{'s' if n != 1 else ''}: {count}" for n, count in sorted(attempts.items()))
    )
    for check in lost:
        console.print(f"  [red]{check.id}: {check.state}, attempts {check.attempts}: {check.problem}")
    console.print(f"jobs the server holds whose SubmitJob failed at the client: {len(unanswered)}")
    for job in unanswered:
        state = jobs_pb2.JobState.Name(job.state)
        console.print(f"  [yellow]{job.id} ({job.request_id}): {state}, attempts {job.attempts}")
    start, end = memory_at
    table = Table(title="resident memory (MiB)")
    for column in ("process", "after warm-up", "at the end", "change", "same processes"):
        table.add_column(column, justify="right" if column in ("after warm-up", "at the end", "change") else "left")
    for name, (pids_before, before) in start.items():
        pids_after, after = end[name]
        table.add_row(
            f"{name} ({len(pids_after)})" if len(pids_after) > 1 else name, mib(before), mib(after),
            f"{(after - before) / 2**20:+.0f}", "yes" if pids_before == pids_after else "no (restarted)",
        )  # fmt: skip
    console.print(table)
    return {
        "calls": calls,
        "faults": faults,
        "jobs": {
            "submitted": len(checks),
            "lost": len(lost),
            "attempts": {str(n): count for n, count in sorted(attempts.items())},
            "problems": [check.__dict__ for check in lost],
            "held_though_submit_failed": [
                {"id": job.id, "request_id": job.request_id, "state": jobs_pb2.JobState.Name(job.state)}
                for job in unanswered
            ],
        },
        "memory": {
            name: {
                "start_bytes": start[name][1],
                "end_bytes": end[name][1],
                "start_pids": start[name][0],
                "end_pids": end[name][0],
            }
            for name in start
        },
    }


def table_of_calls(calls: list[Call], in_window: Callable[[Call], bool], console: Console) -> dict[str, Any]:
    table = Table(title=f"calls ({CALL_DEADLINE_SECONDS:g} s deadline)")
    for column in ("RPC", "ok", "failed", "in a fault window", "outside", "by code", "slowest failure s"):
        table.add_column(column, justify="left" if column in ("RPC", "by code") else "right")
    figures: dict[str, Any] = {}
    rpcs = sorted({call.rpc for call in calls})
    for rpc in [*rpcs, "all"]:
        mine = [call for call in calls if rpc in (call.rpc, "all")]
        failed = [call for call in mine if call.code is not None]
        inside = sum(map(in_window, failed))
        codes = Counter(call.code for call in failed)
        slowest = max((call.ended - call.began for call in failed), default=0.0)
        figures[rpc] = {
            "ok": len(mine) - len(failed),
            "failed": len(failed),
            "failed_in_fault_windows": inside,
            "failed_outside": len(failed) - inside,
            "failed_by_code": dict(codes),
            "slowest_failure_seconds": round(slowest, 3),
        }
        by_code = ", ".join(f"{code} {count}" for code, count in codes.most_common())
        table.add_row(
            rpc, str(len(mine) - len(failed)), str(len(failed)), str(inside), str(len(failed) - inside), by_code,
            f"{slowest:.2f}", style="bold" if rpc == "all" else None,
        )  # fmt: skip
    console.print(table)
    return figures


def table_of_faults(faults: list[Fault], load_began: float, console: Console) -> list[dict[str, Any]]:
    table = Table(title="faults (recovered: a probe round of health, GenerateMidi, Render and GetJob succeeds again)")
    for column in ("at s", "fault", "what", "outage seen", "process back s", "recovered s"):
        table.add_column(column, justify="right" if column.endswith(" s") else "left")
    figures = []
    for fault in faults:
        back = None if fault.back_at is None else fault.back_at - fault.at
        recovered = None if fault.recovered_at is None else fault.recovered_at - fault.at
        figures.append(
            {
                "at_seconds": round(fault.at - load_began, 1),
                "fault": fault.kind,
                "detail": fault.detail,
                "outage_seen": fault.outage_seen,
                "process_back_seconds": None if back is None else round(back, 2),
                "recovery_seconds": None if recovered is None else round(recovered, 2),
            }
        )
        table.add_row(
            f"{fault.at - load_began:.0f}", fault.kind, fault.detail, "yes" if fault.outage_seen else "no",
            "" if back is None else f"{back:.1f}", "[red]never[/red]" if recovered is None else f"{recovered:.1f}",
        )  # fmt: skip
    console.print(table)
    return figures


@dataclass
class Options:
    minutes: float
    fault_every: float
    clients: int
    json_path: Path | None
    data_dir: Path | None


def arguments() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds between faults")
    parser.add_argument("--clients", type=int, default=3, help="load threads")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--data-dir", type=Path, help="the stack's data directory, kept (default: a temporary one)")
    args = parser.parse_args()
    return Options(args.minutes, args.fault_every, args.clients, args.json, args.data_dir)


def warm_up(target: str) -> tuple[bytes, str]:
    """One call of each RPC (first calls load what they need); a MIDI to render, and a finished job to probe."""
    with MusicClient(target, timeout=120) as client:
        midi = client.generate_midi(PROMPTS[0], song_options(bars=2, seed=1)).midi
        client.compose(compose_request(PROMPTS[1], options=song_options(bars=1)))
        client.render(pb.RenderRequest(midi=midi))
        client.transcribe(tone())
        job = client.submit_job(job_request(compose_request(PROMPTS[2], options=song_options(bars=1))))
        if not client.watch_job(job.id).succeeded:
            raise SystemExit(f"the warm-up job failed: {client.get_job(job.id)}")
    return midi, job.id


def soak(options: Options, data_dir: Path, console: Console) -> tuple[dict[str, Any], bool]:
    """The whole run; the figures, and whether it passed (no job lost, every fault healed)."""
    settings = settings_on_free_ports(
        data_dir, models=MODELS, job_lease_seconds=JOB_LEASE_SECONDS, log_format="json", log_level="info"
    )
    serve = ServeProcess(settings)
    load: Soak | None = None
    try:
        serve.wait_serving(timeout=300)
        target = f"127.0.0.1:{settings.grpc_port}"
        midi, probe_job = warm_up(target)
        memory_start = memory(serve)
        console.log(
            f"serving on {target}; {options.clients} clients for {options.minutes:g} min, "
            f"a fault every {options.fault_every:g} s"
        )
        load = Soak(serve, options.clients, midi, probe_job)
        load_began = now()
        load.start()
        run_faults(load, serve, options.minutes, options.fault_every, console)
        load.stop()
        console.log(f"waiting for {len(load.submitted)} jobs")
        checks, unanswered = check_jobs(target, [Submitted(probe_job, 1), *load.submitted])
        memory_end = memory(serve)
        figures = report(load, checks, unanswered, (memory_start, memory_end), load_began, console)
    finally:
        if load is not None:
            load.stop()
        code = serve.stop()
        console.log(f"dgx-music serve stopped (exit status {code})")
    healed = all(fault.recovered_at is not None for fault in load.faults)
    figures["minutes"] = options.minutes
    figures["fault_every_seconds"] = options.fault_every
    figures["clients"] = options.clients
    return figures, figures["jobs"]["lost"] == 0 and healed and code == 0


def main() -> int:
    options = arguments()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped like Ctrl-C: the stack goes down with it
    console = Console(width=shutil.get_terminal_size((150, 40)).columns, log_path=False)
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="dgx-music-soak-")) / "stack"
    passed = False
    try:
        figures, passed = soak(options, data_dir, console)
        if options.json_path is not None:
            options.json_path.write_text(json.dumps(figures, indent=2))
    finally:
        if options.data_dir is None and passed:
            shutil.rmtree(data_dir.parent, ignore_errors=True)
        elif not passed:
            console.print(f"the stack's data and logs are kept in {data_dir}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
