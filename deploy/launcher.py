"""The embedded default: starts redis-server, PostgreSQL (the library's, unless the settings name another),
tritonserver and the gateway as supervised child processes, waits until each is ready, and stops them all cleanly
(no process and no /dev/shm file left behind)."""

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import grpc
import psycopg
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr

from deploy import triton
from deploy.keys import with_keys, write_private
from deploy.postgres import Cluster, PostgresUnavailable
from deploy.settings import Settings


class LaunchError(RuntimeError):
    """The stack could not start; the message says what to do about it."""


def settings_environment(settings: Settings) -> dict[str, str]:
    """The settings as DGXMUSIC_* variables, so that child processes (gateway, Triton's model stubs) read the
    same values, overrides included."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        setting = getattr(settings, name)
        if setting is None:  # unset stays unset (a key the child is not given)
            continue
        if hasattr(setting, "get_secret_value"):
            value = setting.get_secret_value()
        elif isinstance(setting, Path):  # children may run in another working directory
            value = str(setting.resolve())
        env[f"DGXMUSIC_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


_PORT_SETTINGS = (
    "grpc_port",
    "metrics_port",
    "redis_port",
    "triton_grpc_port",
    "triton_http_port",
    "triton_metrics_port",
)


def free_ports(count: int) -> list[int]:
    """`count` different ports the kernel just handed out, for tests and side-by-side stacks (held open together:
    one at a time, the kernel may hand the same port out twice)."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def settings_on_free_ports(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a stack of its own (tests, benchmarks): every port one the kernel just handed out."""
    ports: dict[str, Any] = dict(zip(_PORT_SETTINGS, free_ports(len(_PORT_SETTINGS)), strict=True))
    return Settings(data_dir=data_dir, **{**ports, **overrides})


def _wait_until(
    ready: Callable[[], bool], what: str, timeout: float, failed: Callable[[], str | None], log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if (failure := failed()) is not None:
            raise LaunchError(f"{what} {failure}; see {log}")
        time.sleep(0.1)
    raise LaunchError(f"{what} was not ready after {timeout:.0f} s; see {log}")


def exit_status(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


def _model_failure(http: str, model: str, headers: dict[str, str]) -> str | None:
    """Why Triton could not load `model` (its repository index says UNAVAILABLE), or None."""
    request = urllib.request.Request(f"{http}/v2/repository/index", data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            index = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    for entry in index:
        if entry.get("name") == model and entry.get("state") == "UNAVAILABLE":
            return f"failed to load: {entry.get('reason') or 'no reason given'}"
    return None


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def redis_config(settings: Settings) -> str:
    """redis-server's private config: the gateway's password, and only the commands the gateway uses (no CONFIG,
    FLUSHALL, KEYS, DEBUG...: ACL category @dangerous) on the gateway's keys."""
    rules = "~dgxmusic:* resetchannels -@all +@read +@write +@connection +@transaction +select -@dangerous"
    if settings.redis_password is None:
        return f"user default on nopass {rules}\n"
    digest = hashlib.sha256(settings.redis_password.get_secret_value().encode()).hexdigest()
    return f"user default on #{digest} {rules}\n"


def _redis_ping(settings: Settings) -> bool:
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    try:
        with redis.Redis(port=settings.redis_port, password=password, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _postgres_ready(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=1, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def wait_for_postgres(url: str, process: "subprocess.Popen[bytes]", log: Path, timeout: float = 30.0) -> None:
    """Waits until PostgreSQL at `url` (run by `process`) answers; LaunchError if it exits or does not."""

    def exited() -> str | None:
        code = process.poll()
        return None if code is None else f"{exit_status(code)} during start-up"

    _wait_until(lambda: _postgres_ready(url), "PostgreSQL", timeout, exited, log)


@contextlib.contextmanager
def running_postgres(root: Path) -> Iterator[str]:
    """A PostgreSQL cluster in `root` (made the first time), running as `dgx-music serve` runs the library's but
    unsupervised, for tests and benchmarks; its DSN. Stopped on leaving."""
    cluster = Cluster(root)
    initdb = cluster.prepare()
    log = cluster.root / "postgres.log"
    with log.open("ab") as output:
        if initdb is not None:
            subprocess.run(initdb, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, check=True)
        server = subprocess.Popen(cluster.command(), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_postgres(cluster.url, server, log)
        yield cluster.url
    finally:
        server.terminate()  # a smart shutdown: its clients are gone
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _gateway_ready(settings: Settings) -> bool:
    """Whether the gateway serves. Behind TLS (mTLS: with client certificates the launcher does not hold) its health
    is not the launcher's to ask: it is ready once it listens, since the models it waits for were ready first."""
    if settings.tls_cert_file is None:
        return gateway_serving(f"127.0.0.1:{settings.grpc_port}")
    try:
        with socket.create_connection(("127.0.0.1", settings.grpc_port), timeout=1):
            return True
    except OSError:
        return False


def gateway_serving(target: str) -> bool:
    """Whether the gateway at `target` (host:port, plaintext) answers its health check SERVING."""
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]


# Looked up once here: a child between fork and exec must not load libraries (another thread may hold the loader's
# lock at the fork).
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Runs in each child before it execs: the kernel kills the child when the launcher (the thread that started
    it) dies, however it dies (SIGKILL included), so that no child is left running unsupervised."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the launcher died before the line above took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _identity(pid: int) -> list[int] | None:
    """[pid, start time]: what tells a process from a later one that got the same pid; None if it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else [pid, int(fields[19])]


def _end(child: "_Child", timeout: float = 20.0) -> None:
    """Stops a child: SIGTERM, then SIGKILL after the timeout; nothing of its process group outlives it."""
    process = child.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Triton's python stubs live in its process group; none may outlive it.
    _kill_group(process.pid)
    child.log.close()


def _kill_group(group: int, timeout: float = 10.0) -> None:
    """Kills every process of the group and waits until the kernel has torn them down, so that a stopped stack
    leaves nothing running. The kill is repeated: a process forked while the group was being killed (a stub Triton
    was starting) escapes the first one."""
    deadline = time.monotonic() + timeout
    while _group_members(group) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
        time.sleep(0.02)


def _processes_running_from(folder: Path) -> list[int]:
    """The processes (other than this one) whose program lies in `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            # The executable, not argv[0]: a process that has just exec'd shows an empty cmdline for a moment.
            program = os.readlink(entry / "exe")
        except OSError:
            continue  # gone meanwhile, or a kernel thread
        if program.startswith(f"{folder}/"):
            found.append(int(entry.name))
    return found


def end_processes_running_from(folder: Path, timeout: float = 10.0) -> None:
    """Ends every process whose program lies in `folder` (a Triton's copy of its server and stub), and waits until
    they are gone."""
    deadline = time.monotonic() + timeout
    while (strays := _processes_running_from(folder)) and time.monotonic() < deadline:
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _group_members(group: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def triton_process(
    settings: Settings,
    work_dir: Path,
    *,
    repository: Path | None = None,
    host: str = "127.0.0.1",
    flags: Sequence[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one tritonserver, its server copied into `work_dir` with the stub for
    this Python: the stack's Triton and `dgx-music triton`'s (deploy.triton.command for the arguments)."""
    try:
        install = triton.prepare(work_dir)
    except triton.TritonNotInstalled as exc:
        raise LaunchError(str(exc)) from exc
    # Models that load weights must never wait on a hub that this machine may not reach.
    base = {"HF_HUB_OFFLINE": "1", **os.environ, **settings_environment(settings)}
    argv = triton.command(install, settings, repository=repository, host=host, flags=flags)
    return argv, triton.environment(install, base)


def remove_shared_memory(triton_grpc_port: int) -> None:
    """Removes the /dev/shm regions of the Triton on this port (one that was killed leaves them behind)."""
    for leftover in Path("/dev/shm").glob(f"{triton.shm_prefix(triton_grpc_port)}*"):
        leftover.unlink(missing_ok=True)


def run_triton(
    settings: Settings, work_dir: Path, *, repository: Path, host: str = "127.0.0.1", flags: Sequence[str] = ()
) -> int:
    """`dgx-music triton`: one tritonserver in the foreground, its output on ours, until it exits or SIGTERM (a
    pod's stop) or SIGINT, which it is passed; then nothing of it is left: no stub, no shared memory. Its exit
    status (0 after a stop asked for)."""
    if not _port_is_free(host, settings.triton_grpc_port):
        raise LaunchError(f"port {settings.triton_grpc_port} (--grpc-port) is already in use")
    missing = [model for model in settings.models if not (repository / model / "config.pbtxt").is_file()]
    if missing:
        raise LaunchError(
            f"the profile plans no model {', '.join(map(repr, missing))}: leave it out of DGXMUSIC_MODELS"
        )
    argv, env = triton_process(settings, work_dir, repository=repository, host=host, flags=flags)
    # What a predecessor killed on this folder left: its stubs (which outlive their Triton) and shared memory.
    end_processes_running_from(work_dir)
    remove_shared_memory(settings.triton_grpc_port)
    stop_asked = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stop_asked
        stop_asked = True
        process.send_signal(signal.SIGTERM)  # Triton ends its models' stubs and frees their shared memory

    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its stubs in its group, which is ended whole below
        preexec_fn=functools.partial(_die_with_parent, os.getpid()),
    )
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        code = process.wait()
    finally:
        _kill_group(process.pid)
        end_processes_running_from(work_dir)
        remove_shared_memory(settings.triton_grpc_port)
    return 0 if stop_asked else code


@dataclass
class Stack:
    """redis-server + PostgreSQL + tritonserver + gateway on loopback. Use as a context manager, or start()/stop()."""

    settings: Settings
    children: list[_Child] = field(default_factory=list)
    # The library's own PostgreSQL; None when the settings point the library at another (library_database_url).
    postgres: Cluster | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def gateway_target(self) -> str:
        return f"127.0.0.1:{self.settings.grpc_port}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            # The stack's keys, logs and Redis data are its owner's alone.
            for private in (self.data_dir, self.log_dir, self.data_dir / "redis"):
                private.mkdir(mode=0o700, parents=True, exist_ok=True)
                private.chmod(0o700)  # a folder an older version left open to others
            self.settings = with_keys(self.settings)
            if self.settings.library_database_url is None:
                self.postgres = Cluster(self.data_dir / "postgres")
                url = SecretStr(self.postgres.url)
                self.settings = self.settings.model_copy(update={"library_database_url": url})
            self._clean_up_after_an_earlier_stack()  # before the ports are checked: what it ends may hold them
        except OSError as exc:
            raise LaunchError(
                f"data directory {self.data_dir} is not usable ({exc}): set --data-dir or DGXMUSIC_DATA_DIR"
            ) from exc
        self._preflight()
        try:
            self._start_redis()
            self._start_postgres()
            self._start_triton()
            self._start_gateway()
        except BaseException:
            self.stop()
            raise

    def _preflight(self) -> None:
        s = self.settings
        if shutil.which("redis-server") is None:
            raise LaunchError("redis-server not found: install it with `apt-get install redis-server` (make setup)")
        ports = {
            "grpc_port (gateway)": s.grpc_port,
            "redis_port": s.redis_port,
            "triton_grpc_port": s.triton_grpc_port,
            "triton_http_port": s.triton_http_port,
            "triton_metrics_port": s.triton_metrics_port,
        }
        if s.metrics_port:
            ports["metrics_port"] = s.metrics_port
        by_port: dict[int, list[str]] = {}
        for setting, port in ports.items():
            by_port.setdefault(port, []).append(setting)
        for port, settings in by_port.items():
            if len(settings) > 1:
                env = " or ".join("DGXMUSIC_" + setting.split()[0].upper() for setting in settings)
                raise LaunchError(f"port {port} is set for {' and '.join(settings)}: give each its own ({env})")
        for setting, port in ports.items():
            if not _port_is_free("127.0.0.1", port):
                env = "DGXMUSIC_" + setting.split()[0].upper()
                raise LaunchError(f"port {port} ({setting}) is already in use: stop what holds it or set {env}")
        if not s.models:
            raise LaunchError("no models to serve: DGXMUSIC_MODELS is empty")
        missing = [model for model in s.models if not (s.model_repository / model / "config.pbtxt").is_file()]
        if missing:
            raise LaunchError(f"model repository {s.model_repository} has no model {', '.join(map(repr, missing))}")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> _Child:
        path = self.log_dir / f"{name}.log"
        log = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        path.chmod(0o600)  # a log an older version left readable by others
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order.
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
        )
        child = _Child(name, process, log)
        # A restarted child takes its predecessor's place: the children stop in the reverse of their start order.
        places = [index for index, known in enumerate(self.children) if known.name == name]
        if places:
            self.children[places[0]] = child
        else:
            self.children.append(child)
        self._record()
        return child

    def _start_redis(self) -> None:
        redis_dir = self.data_dir / "redis"
        # The password stays off the command line (which any local user can read): it is in a private config file.
        config = redis_dir / "redis.conf"
        write_private(config, redis_config(self.settings))
        argv = [
            "redis-server", str(config), "--bind", "127.0.0.1", "--port", str(self.settings.redis_port),
            "--dir", str(redis_dir), "--appendonly", "yes",
            "--appendfsync", "everysec", "--save", "",
            # Only keys with a TTL (cached results) are evicted when Redis is full: never a job.
            "--maxmemory", self.settings.redis_maxmemory, "--maxmemory-policy", "volatile-lru",
            "--daemonize", "no",
        ]  # fmt: skip
        child = self._spawn("redis", argv, dict(os.environ))
        _wait_until(lambda: _redis_ping(self.settings), "redis-server", 20, self._exited(child), self._log(child))

    def _start_postgres(self) -> None:
        """The library's PostgreSQL (a new cluster the first time); the gateway applies the library's migrations."""
        if self.postgres is None:
            return
        cluster = self.postgres
        log = self.log_dir / "postgres.log"
        try:
            initdb = cluster.prepare()
            if initdb is not None:
                with log.open("ab") as output:
                    done = subprocess.run(initdb, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    raise LaunchError(f"PostgreSQL's initdb {exit_status(done.returncode)}; see {log}")
            argv = cluster.command()
        except (PostgresUnavailable, OSError) as exc:
            raise LaunchError(str(exc)) from exc
        child = self._spawn("postgres", argv, dict(os.environ))
        wait_for_postgres(cluster.url, child.process, log)

    def _start_triton(self) -> None:
        argv, env = triton_process(self.settings, self.data_dir / "triton")
        child = self._spawn("triton", argv, env)
        http = f"http://127.0.0.1:{self.settings.triton_http_port}"
        timeout = self.settings.startup_timeout_seconds
        log, exited = self._log(child), self._exited(child)
        _wait_until(lambda: _http_ok(f"{http}/v2/health/live"), "tritonserver", timeout, exited, log)
        for model in self.settings.models:
            ready = lambda m=model: _http_ok(f"{http}/v2/models/{m}/ready")  # noqa: E731
            failed = lambda m=model: exited() or _model_failure(http, m, triton.http_key_headers(self.settings))  # noqa: E731
            _wait_until(ready, f"model {model}", timeout, failed, log)

    def gateway_environment(self, **settings: str) -> dict[str, str]:
        """The environment of a gateway on this stack's Triton and Redis (the stack's own, or another that a test or
        a benchmark starts), with `settings` (by their names, e.g. grpc_port="50052") on top."""
        return {
            **os.environ,
            **settings_environment(self.settings),
            "DGXMUSIC_TRITON_URL": f"127.0.0.1:{self.settings.triton_grpc_port}",
            "DGXMUSIC_REDIS_URL": f"redis://127.0.0.1:{self.settings.redis_port}/0",
            **{f"DGXMUSIC_{name.upper()}": value for name, value in settings.items()},
        }

    def _start_gateway(self) -> None:
        child = self._spawn("gateway", [sys.executable, "-m", "gateway"], self.gateway_environment())
        ready = lambda: _gateway_ready(self.settings)  # noqa: E731
        _wait_until(ready, "gateway", self.settings.startup_timeout_seconds, self._exited(child), self._log(child))

    @staticmethod
    def _exited(child: _Child) -> Callable[[], str | None]:
        """How the child ended during start-up, or None while it runs."""

        def exited() -> str | None:
            code = child.process.poll()
            return None if code is None else f"{exit_status(code)} during start-up"

        return exited

    def _log(self, child: _Child) -> Path:
        return self.log_dir / f"{child.name}.log"

    def restart(self, name: str) -> None:
        """Starts the child `name` again (after it died), as start() started it; LaunchError if it does not come up."""
        for child in self.children:
            if child.name == name:
                _end(child)
        if name == "triton":
            self._remove_shared_memory()
        starts = {
            "redis": self._start_redis,
            "postgres": self._start_postgres,
            "triton": self._start_triton,
            "gateway": self._start_gateway,
        }
        starts[name]()

    @property
    def _record_path(self) -> Path:
        return self.data_dir / "stack.json"

    def _record(self) -> None:
        """Writes down who runs this stack, so that a later start can tell a live stack from one that was killed."""
        record = {"launcher": _identity(os.getpid()), **{c.name: _identity(c.process.pid) for c in self.children}}
        write_private(self._record_path, json.dumps(record))

    def _clean_up_after_an_earlier_stack(self) -> None:
        """Refuses to start beside a live stack on this data directory; ends what a killed one left running."""
        if not self._record_path.exists():
            return
        record: dict[str, list[int]] = json.loads(self._record_path.read_text())
        launcher = record.pop("launcher", None)
        if launcher and launcher[0] != os.getpid() and _identity(launcher[0]) == launcher:
            raise LaunchError(f"another dgx-music stack (pid {launcher[0]}) runs on {self.data_dir}: stop it first")
        for pid, started in record.values():
            if _identity(pid) == [pid, started]:  # the same process, not another that got its pid
                _kill_group(pid)  # each child leads its own group (Triton's stubs are in it)
        self._end_strays()
        self._remove_shared_memory()
        self._record_path.unlink()

    def _end_strays(self) -> None:
        """Triton's stubs outlive a Triton that was killed, and a Triton whose start a signal interrupted is in no
        list of children: every process running from this data directory is ended."""
        end_processes_running_from(self.data_dir)

    def _remove_shared_memory(self) -> None:
        remove_shared_memory(self.settings.triton_grpc_port)

    def stop(self, timeout: float = 20.0) -> None:
        """Stops the gateway, then Triton, PostgreSQL, Redis: each gets SIGTERM, then SIGKILL after the timeout."""
        for child in reversed(self.children):
            _end(child, timeout)
        self.children.clear()
        self._end_strays()
        self._record_path.unlink(missing_ok=True)
        self._remove_shared_memory()


def serve(settings: Settings) -> int:
    """`dgx-music serve`: runs the stack until Ctrl-C or SIGTERM, restarting a child that dies (with backoff)."""
    stopping = False
    interruptible = True  # while the stack (or a child) starts: a signal interrupts the wait, which can be minutes

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping, interruptible
        stopping = True
        if interruptible:
            interruptible = False
            raise _StopDuringStartUp

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stack = Stack(settings)
    print(f"dgx-music: starting redis, postgres, triton and the gateway (logs in {stack.log_dir})", file=sys.stderr)
    try:
        stack.start()
        interruptible = False
        if stopping:  # the signal came, but its exception was swallowed where it landed (a library's C callback)
            raise _StopDuringStartUp
    except _StopDuringStartUp:
        stack.stop()  # start() stopped what it had started, unless the signal came just after it returned
        print("dgx-music: stopped during start-up", file=sys.stderr)
        return 0
    supervisor = _Supervisor(stack)
    try:
        print(f"dgx-music: serving on {settings.host}:{settings.grpc_port}", file=sys.stderr)
        while not stopping:
            for name in supervisor.due():
                interruptible = True
                supervisor.restart(name)
                interruptible = False
            time.sleep(0.2)
    except _StopDuringStartUp:
        pass
    finally:
        print("dgx-music: stopping", file=sys.stderr)
        stack.stop()
    return 0


class _Supervisor:
    """Restarts the stack's children that die: at once the first time, then after a delay that doubles with each
    death in a row (up to MAX_BACKOFF_SECONDS); a child that stayed up for STABLE_SECONDS starts the count anew."""

    FIRST_BACKOFF_SECONDS = 0.5
    MAX_BACKOFF_SECONDS = 30.0
    STABLE_SECONDS = 60.0

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.deaths: dict[str, int] = {}  # deaths in a row, by child
        self.started = {child.name: time.monotonic() for child in stack.children}
        self.next_try: dict[str, float] = {}  # when a dead child is started again

    def due(self) -> list[str]:
        """The dead children whose restart is due; a child found dead is reported (and its restart planned)."""
        now = time.monotonic()
        for child in self.stack.children:
            code = child.process.poll()
            if code is None or child.name in self.next_try:
                continue
            stable = now - self.started.get(child.name, now) >= self.STABLE_SECONDS
            deaths = 1 if stable else self.deaths.get(child.name, 0) + 1
            self.deaths[child.name] = deaths
            delay = (
                0.0 if deaths == 1 else min(self.FIRST_BACKOFF_SECONDS * 2 ** (deaths - 2), self.MAX_BACKOFF_SECONDS)
            )
            self.next_try[child.name] = now + delay
            print(f"dgx-music: {child.name} {exit_status(code)}; restarting it in {delay:g} s", file=sys.stderr)
        return [name for name, when in self.next_try.items() if when <= now]

    def restart(self, name: str) -> None:
        try:
            self.stack.restart(name)
        except LaunchError as exc:
            print(f"dgx-music: {name} did not come back ({exc})", file=sys.stderr)
            self.started[name] = time.monotonic()  # its next death counts as one more in a row
            del self.next_try[name]  # found dead again by the next due()
            return
        del self.next_try[name]
        self.started[name] = time.monotonic()
        print(f"dgx-music: {name} is back", file=sys.stderr)


class _StopDuringStartUp(BaseException):
    """SIGINT or SIGTERM while the stack starts."""
