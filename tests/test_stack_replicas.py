"""The cluster on loopback: two Triton replicas (`dgx-music triton`) behind two gateways (`dgx-music gateway`, their
DGXMUSIC_TRITON_URL an ipv4: list of both) that share one Redis. Calls spread over both replicas (Triton's own
statistics show it), either gateway answers what the other computed (a cached render, a job), and a replica killed
under load costs no call (each is repeated on the other replica) and is taken back once restarted."""

import functools
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import tritonclient.grpc as triton_grpc
from test_stack_readme import BLOCKS
from tritonclient.utils import InferenceServerException

import composer
from clients.client import MusicClient, job_request, song_options
from deploy import triton
from deploy.keys import write_private
from deploy.launcher import (
    end_processes_running_from,
    free_ports,
    gateway_serving,
    redis_config,
    remove_shared_memory,
)
from deploy.settings import PROJECT_ROOT, Settings
from dgxmusic.v1 import jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.errors import ApiError
from gateway.memory import model_stubs
from gateway.triton import TritonModels
from waiting import wait_until

pytestmark = pytest.mark.stack

REPLICAS = ("a", "b")
README_SECTION = "Running the processes apart (replicas)"
README_REDIS_PORT = 6379


@dataclass(frozen=True)
class ReadmeCluster:
    """The README's example of replicas, its ports mapped to free ones: the `dgx-music triton` and `dgx-music
    gateway` command lines (the words after `dgx-music`) and the DGXMUSIC_* settings it exports with plain values."""

    tritons: list[list[str]]
    gateways: list[list[str]]
    settings: dict[str, str]
    ports: dict[int, int]  # README's -> here


_PORT = re.compile(r"\b(\d{4,5})\b")


def readme_cluster() -> ReadmeCluster:
    [block] = [b for b in BLOCKS if b.section == README_SECTION and b.language == "bash"]
    readme_ports = sorted({int(port) for port in _PORT.findall("\n".join(block.commands))})
    ports = dict(zip(readme_ports, free_ports(len(readme_ports)), strict=True))
    tritons: list[list[str]] = []
    gateways: list[list[str]] = []
    settings: dict[str, str] = {}
    for command in block.commands:
        words = shlex.split(_PORT.sub(lambda match: str(ports[int(match.group(1))]), command))
        if words[0] == ".venv/bin/dgx-music":
            assert words[-1] == "&", command
            (tritons if words[1] == "triton" else gateways).append(words[1:-1])
        elif words[0] == "export":
            for word in words[1:]:
                name, _, value = word.partition("=")
                if name.startswith("DGXMUSIC_") and "$" not in value:
                    settings[name] = value
    return ReadmeCluster(tritons, gateways, settings, ports)


def _option(words: list[str], name: str) -> int:
    return int(words[words.index(name) + 1])


def dgx_music(command: str, *args: str) -> list[str]:
    """The argv of `dgx-music COMMAND ARGS` from this checkout (the installed `dgx-music` may predate it)."""
    return [
        sys.executable,
        "-c",
        f"from deploy.cli import {command}; {command}(prog_name='dgx-music {command}')",
        *args,
    ]


@dataclass
class Replica:
    command: list[str]  # `triton ...`, as the README gives it
    process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_port(self) -> int:
        return _option(self.command, "--grpc-port")

    @property
    def http_port(self) -> int:
        return _option(self.command, "--http-port")

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/v2/health/ready", timeout=1) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def inferences(self, model: str) -> int:
        """The model's inference count on this replica, as Triton's statistics say (0 for a replica that is down)."""
        try:
            with triton_grpc.InferenceServerClient(self.url) as client:
                stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
        except Exception:
            return 0
        return int(stats.get("inference_count", 0))


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]
    replicas: dict[str, Replica]
    gateways: list[str]  # their targets
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # killed as a pod dies: its whole process group
        )
        self.processes.append(process)
        return process

    def start_replica(self, name: str) -> None:
        replica = self.replicas[name]
        replica.process = self.spawn(f"triton-{name}", dgx_music(*replica.command))

    def wait_for_replica(self, name: str) -> None:
        replica = self.replicas[name]
        assert replica.process is not None
        process = replica.process
        wait_until(lambda: replica.ready() or process.poll() is not None, f"triton {name} ready", timeout_s=120)
        assert process.poll() is None, (self.folder / f"triton-{name}.log").read_text()[-3000:]

    def kill_replica(self, name: str) -> None:
        """As a node or pod dies: SIGKILL to all of it (`dgx-music triton`, tritonserver, its stubs) at once."""
        replica = self.replicas[name]
        assert replica.process is not None
        os.killpg(replica.process.pid, signal.SIGKILL)
        end_processes_running_from(self.folder / "data" / f"triton-{replica.grpc_port}")
        replica.process.wait()

    def inferences(self, model: str) -> dict[str, int]:
        return {name: replica.inferences(model) for name, replica in self.replicas.items()}

    def gateway_log(self, index: int) -> list[dict[str, object]]:
        lines = (self.folder / f"gateway-{index}.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def _redis_ready(port: int, password: str) -> bool:
    import redis

    try:
        with redis.Redis(port=port, password=password, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    readme = readme_cluster()
    assert len(readme.tritons) == len(REPLICAS)
    assert len(readme.gateways) == 2
    replicas = dict(zip(REPLICAS, map(Replica, readme.tritons), strict=True))
    redis_port = readme.ports[README_REDIS_PORT]
    gateway_ports = [_option(command, "--port") for command in readme.gateways]
    keys = {name: secrets.token_urlsafe(24) for name in ("triton_api_key", "redis_password", "cache_signing_key")}
    env = {name: value for name, value in os.environ.items() if not name.startswith("DGXMUSIC_")}
    env |= readme.settings  # DGXMUSIC_MODELS, DGXMUSIC_TRITON_URL (an ipv4: list of both), DGXMUSIC_REDIS_URL
    env |= {f"DGXMUSIC_{name.upper()}": value for name, value in keys.items()}
    env |= {
        "DGXMUSIC_DATA_DIR": str(folder / "data"),  # the replicas' repositories, the gateways' shared job artifacts
        "DGXMUSIC_LOG_FORMAT": "json",
        "DGXMUSIC_HEALTH_POLL_SECONDS": "0.5",
    }
    assert env["DGXMUSIC_TRITON_URL"] == "ipv4:" + ",".join(replica.url for replica in replicas.values())
    cluster = Cluster(folder, env, replicas, [f"127.0.0.1:{port}" for port in gateway_ports])
    try:
        config = folder / "redis" / "redis.conf"
        write_private(config, redis_config(Settings(redis_password=keys["redis_password"])))
        argv = ["redis-server", str(config), "--bind", "127.0.0.1", "--port", str(redis_port),
                "--dir", str(config.parent), "--save", "", "--appendonly", "no"]  # fmt: skip
        cluster.spawn("redis", argv)
        wait_until(lambda: _redis_ready(redis_port, keys["redis_password"]), "redis ready", timeout_s=20)
        for name in REPLICAS:  # side by side: each has a folder of its own
            cluster.start_replica(name)
        for name in REPLICAS:
            cluster.wait_for_replica(name)
        for index, command in enumerate(readme.gateways):
            cluster.spawn(f"gateway-{index}", dgx_music(*command))
        for target in cluster.gateways:
            wait_until(functools.partial(gateway_serving, target), f"gateway {target} serving", timeout_s=60)
        yield cluster
    finally:
        for process in reversed(cluster.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        stopped = {process.pid: _wait(process, 30) for process in cluster.processes}
        for process in cluster.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    # A pod's stop: each of our processes ended on SIGTERM, at once and with status 0; a replica so stopped leaves no
    # stub and no shared memory (one killed leaves its shared memory, which a pod's emptyDir takes with it).
    assert all(code in (0, -signal.SIGKILL) for code in stopped.values()), stopped
    for replica in replicas.values():
        assert not model_stubs(replica.grpc_port)
        leftovers = list(Path("/dev/shm").glob(f"{triton.shm_prefix(replica.grpc_port)}*"))
        if replica.process is not None and replica.process.returncode == -signal.SIGKILL:
            remove_shared_memory(replica.grpc_port)
        else:
            assert not leftovers


def _wait(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def _songs(client: MusicClient, count: int, first_seed: int) -> None:
    for seed in range(first_seed, first_seed + count):
        assert client.generate_midi("lofi piano", song_options(seed=seed, bars=2)).midi.startswith(b"MThd")


def test_calls_spread_over_both_replicas(cluster: Cluster) -> None:
    before = cluster.inferences("text2midi")
    with MusicClient(cluster.gateways[0], timeout=60) as client:
        _songs(client, 20, first_seed=1000)
    wait_until(lambda: sum(cluster.inferences("text2midi").values()) - sum(before.values()) >= 20, "counts recorded")
    spread = {name: count - before[name] for name, count in cluster.inferences("text2midi").items()}
    print(f"20 GenerateMidi calls through one gateway, per replica: {spread}")
    # Round robin per request: each replica gets about half, not all on the one connection pick_first would use.
    assert all(count >= 5 for count in spread.values()), spread


def test_a_result_computed_on_one_gateway_is_answered_by_the_other(cluster: Cluster) -> None:
    first, second = (MusicClient(target, timeout=60) for target in cluster.gateways)
    with first, second:
        midi = first.generate_midi("house 124", song_options(seed=7, bars=2)).midi
        request = pb.RenderRequest(midi=midi)
        computed = first.render(request)
        # Cached in the background once the answer is out: a repeat on the same gateway waits for that write.
        first.render(request)
        cached = second.render(request)
        assert (cached.mix == computed.mix).all()
        renders = [e for e in cluster.gateway_log(1) if e.get("event") == "rpc" and e.get("method") == "Render"]
        assert renders[-1]["cache_hit"] is True, "the second gateway rendered again instead of reading the cache"

        job = first.submit_job(job_request(pb.RenderRequest(midi=midi, bypass_cache=True)))
        outcome = second.watch_job(job.id)
        assert outcome.job.state == jobs_pb2.JOB_STATE_SUCCEEDED, outcome.job.error_message
        assert second.get_job(job.id).state == jobs_pb2.JOB_STATE_SUCCEEDED


def test_a_dead_stub_is_reloaded_on_its_own_replica_alone(cluster: Cluster) -> None:
    """A python stub that dies takes its model down on one replica: the gateway reloads it there (and not through
    the balanced channel, which would unload it on one replica and load it on the next), and no call fails."""
    ports = {name: replica.grpc_port for name, replica in cluster.replicas.items()}
    [dead] = model_stubs(ports["b"])["fluidsynth"]
    healthy = model_stubs(ports["a"])["fluidsynth"]
    os.kill(dead, signal.SIGKILL)
    with MusicClient(cluster.gateways[0], timeout=60) as client:
        midi = client.generate_midi("ambient pads", song_options(seed=3, bars=2)).midi
        for _ in range(4):  # two reach replica b
            client.render(pb.RenderRequest(midi=midi, bypass_cache=True))
    back = lambda: model_stubs(ports["b"]).get("fluidsynth", [dead]) != [dead]  # noqa: E731
    wait_until(back, "replica b's fluidsynth stub started again", timeout_s=30)
    assert model_stubs(ports["a"])["fluidsynth"] == healthy  # replica a's model untouched


async def test_a_triton_facing_a_network_answers_only_health_without_the_key(cluster: Cluster, tmp_path: Path) -> None:
    """`--host 0.0.0.0` (a pod's): Kubernetes' probes need no key, but everything else does, inference included."""
    grpc_port, http_port, metrics_port = free_ports(3)
    ports = ["--grpc-port", str(grpc_port), "--http-port", str(http_port), "--metrics-port", str(metrics_port)]
    env = cluster.env | {"DGXMUSIC_MODELS": json.dumps(["text2midi"]), "DGXMUSIC_DATA_DIR": str(tmp_path)}
    replica = Replica(["triton", *ports])
    replica.process = cluster.spawn("triton-open", dgx_music("triton", "--host", "0.0.0.0", *ports), env)
    process = replica.process
    wait_until(lambda: replica.ready() or process.poll() is not None, "the open triton ready", timeout_s=120)
    key = triton.grpc_key_headers(Settings(triton_api_key=env["DGXMUSIC_TRITON_API_KEY"]))
    song = composer.SongRequest(prompt="lofi piano", bars=1)
    keyed, stranger = TritonModels(replica.url, key), TritonModels(replica.url)
    try:
        midi, _ = await keyed.compose(song, deadline=30, request_id="with-key")
        assert midi.startswith(b"MThd")
        assert await stranger.ready(["text2midi"])  # health: open to probes
        with pytest.raises(ApiError) as refused:
            await stranger.compose(song, deadline=30, request_id="without-key")
        assert "restricted" in refused.value.message
        with triton_grpc.InferenceServerClient(replica.url) as client, pytest.raises(InferenceServerException):
            client.get_inference_statistics("text2midi")  # statistics too are the stack's alone
    finally:
        await keyed.close()
        await stranger.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


@dataclass
class Load:
    """Clients calling as fast as they can, each call's outcome kept."""

    cluster: Cluster
    clients: int = 4
    stop: threading.Event = field(default_factory=threading.Event)
    calls: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, "ok" or the error
    threads: list[threading.Thread] = field(default_factory=list)

    not_serving: list[tuple[float, str]] = field(default_factory=list)  # when a gateway's health said otherwise

    def __enter__(self) -> "Load":
        for index in range(self.clients):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self.threads.append(thread)
        self.threads.append(threading.Thread(target=self._watch_health, daemon=True))
        self.threads[-1].start()
        return self

    def _watch_health(self) -> None:
        while not self.stop.wait(0.1):
            for target in self.cluster.gateways:
                if not gateway_serving(target):
                    self.not_serving.append((time.time(), target))

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _run(self, index: int) -> None:
        target = self.cluster.gateways[index % len(self.cluster.gateways)]
        seed = 10_000 * (index + 1) + int(time.time() * 1000) % 10_000
        with MusicClient(target, timeout=30) as client:
            while not self.stop.is_set():
                seed += 1
                start = time.time()
                try:
                    song = client.generate_midi("techno 130", song_options(seed=seed, bars=2))
                    client.render(pb.RenderRequest(midi=song.midi, bypass_cache=True))
                    outcome = "ok"
                except Exception as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                self.calls.append((start, time.time(), outcome))

    def failed(self) -> list[str]:
        return [outcome for _, _, outcome in self.calls if outcome != "ok"]


def _retries_after(cluster: Cluster, since: float) -> list[float]:
    """When (epoch seconds) each gateway repeated a call on another replica, after `since`."""
    times = []
    for index in range(len(cluster.gateways)):
        for event in cluster.gateway_log(index):
            if event.get("event") == "triton_replica_gone":
                at = datetime.fromisoformat(str(event["timestamp"])).timestamp()
                if at >= since:
                    times.append(at)
    return times


def test_a_replica_killed_under_load_costs_no_call_and_is_taken_back(cluster: Cluster) -> None:
    with Load(cluster) as load:
        wait_until(lambda: len(load.calls) >= 8, "the load running", timeout_s=60)
        killed_at = time.time()
        cluster.kill_replica("b")
        wait_until(lambda: sum(1 for start, *_ in load.calls if start > killed_at + 3) >= 8, "calls after the kill")
        during = [call for call in load.calls if call[1] >= killed_at]
        retries = _retries_after(cluster, killed_at)
        left_out_s = max(retries, default=killed_at) - killed_at
        slowest = max(end - start for start, end, _ in during)
        print(
            f"replica b killed under load: {len(during)} calls since, {len(load.failed())} failed, {len(retries)} "
            f"repeated on replica a, the last {left_out_s:.2f} s after the kill; slowest call {slowest:.2f} s"
        )
        assert load.failed() == [], cluster.folder
        assert left_out_s < 5.0
        assert load.not_serving == []  # one replica down is no reason for a gateway to be taken out of service

        before = cluster.inferences("fluidsynth")["a"]
        cluster.start_replica("b")
        cluster.wait_for_replica("b")
        back_at = time.time()
        # Its first call within the gateways' reconnect backoff (at most 2 s, gateway.triton.CHANNEL_ARGS).
        taken_back = lambda: cluster.inferences("fluidsynth")["b"] >= 1  # noqa: E731
        wait_until(taken_back, "the restarted replica taking calls", timeout_s=30)
        print(f"replica b restarted: its first call {time.time() - back_at:.2f} s after it was ready")
        assert cluster.inferences("fluidsynth")["a"] > before  # and a keeps its share
    assert load.failed() == []
