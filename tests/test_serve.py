"""`dgx-music serve`: starts the three processes, stops them all on SIGINT/SIGTERM, leaves nothing behind, and
says clearly when it cannot start."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from clients.client import ComposeResult, MusicClient, compose_request, job_request, song_options
from conftest import stack_settings
from deploy import triton
from deploy.launcher import LaunchError, Stack, gateway_serving, settings_environment
from deploy.settings import PROJECT_ROOT, Settings
from dgxmusic.v1 import jobs_pb2
from waiting import is_gone, wait_until

# Each test starts (or fails to start) a stack of its own.
pytestmark = pytest.mark.stack

REPOSITORY = PROJECT_ROOT / "model_repository"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(proc.name))
    return found


def _assert_nothing_left(settings: Settings) -> None:
    """No process of this stack runs any more, and none of its Triton shared memory is left."""
    assert _processes_mentioning(str(settings.data_dir.resolve())) == []
    assert _processes_mentioning(f"--grpc-port={settings.triton_grpc_port}") == []
    assert not list(Path("/dev/shm").glob(f"{triton.shm_prefix(settings.triton_grpc_port)}*"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_and_stops_cleanly(tmp_path: Path, signum: int) -> None:
    settings = stack_settings(tmp_path / "data")
    env = {**os.environ, **settings_environment(settings)}
    serve = subprocess.Popen([sys.executable, "-m", "clients.cli", "serve"], env=env, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _up(serve, settings), "the stack came up", timeout_s=120)
        with MusicClient(f"127.0.0.1:{settings.grpc_port}", timeout=10) as client:
            assert client.generate_midi("techno 130").midi.startswith(b"MThd")
        assert list(Path("/dev/shm").glob(f"{triton.shm_prefix(settings.triton_grpc_port)}*")), (
            "Triton's stubs use /dev/shm"
        )
        serve.send_signal(signum)
        assert serve.wait(timeout=60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
    _assert_nothing_left(settings)


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.triton_grpc_port))
        squatter.listen()
        with pytest.raises(
            LaunchError,
            match=rf"port {settings.triton_grpc_port} \(triton_grpc_port\).*DGXMUSIC_TRITON_GRPC_PORT",
        ):
            Stack(settings).start()


def test_a_missing_binary_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LaunchError, match=r"redis-server not found.*apt-get install redis-server"):
        Stack(stack_settings(tmp_path)).start()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"models": []}, r"no models to serve"),
        ({"models": ["text2midi", "nosuch"]}, r"has no model 'nosuch'"),
        ({"redis_port": "triton_http_port"}, r"is set for redis_port and triton_http_port"),
    ],
)
def test_bad_settings_are_named_before_anything_starts(
    tmp_path: Path, overrides: dict[str, object], error: str
) -> None:
    settings = stack_settings(tmp_path)
    if overrides.get("redis_port") == "triton_http_port":
        overrides = {"redis_port": settings.triton_http_port}
    stack = Stack(settings.model_copy(update=overrides))
    with pytest.raises(LaunchError, match=error):
        stack.start()
    assert stack.children == []


def test_a_data_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(LaunchError, match=r"data directory .*file is not usable.*DGXMUSIC_DATA_DIR"):
        Stack(stack_settings(tmp_path / "file")).start()


def test_a_model_that_fails_to_load_is_named_at_once(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(REPOSITORY / "text2midi", repository / "text2midi")
    config = repository / "text2midi" / "config.pbtxt"
    config.write_text(config.read_text().replace("kind: KIND_CPU", "kind: KIND_CPU\n    gpus: [0]"))
    # Named from Triton's own reason, not found out by waiting the start-up timeout out.
    settings = stack_settings(tmp_path / "data", model_repository=repository, models=["text2midi"])
    with pytest.raises(
        LaunchError, match=r"model text2midi failed to load: .*KIND_CPU but specifies .*GPUs.*triton\.log"
    ):
        Stack(settings).start()
    assert _processes_mentioning(str(settings.data_dir.resolve())) == []


def _up(serve: subprocess.Popen[Any], settings: Settings) -> bool:
    """Whether `dgx-music serve` serves; fails at once if it exited instead."""
    assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
    return gateway_serving(f"127.0.0.1:{settings.grpc_port}")


def _serve(settings: Settings) -> subprocess.Popen[str]:
    env = {**os.environ, **settings_environment(settings)}
    return subprocess.Popen([sys.executable, "-m", "clients.cli", "serve"], env=env, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_during_start_up_stops_at_once(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "data")  # all five models: start-up takes seconds
    serve = _serve(settings)
    try:
        wait_until(
            lambda: serve.poll() is not None or (settings.data_dir / "logs" / "triton.log").exists(),
            "Triton is starting",
        )
        assert serve.poll() is None
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=30) == 0
        assert "stopped during start-up" in (serve.stderr.read() if serve.stderr else "")
    finally:
        if serve.poll() is None:
            serve.kill()
    _assert_nothing_left(settings)


def _serve_writing_to(settings: Settings, stderr: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_environment(settings)}
    with stderr.open("wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "clients.cli", "serve"], env=env, stderr=sink)


def _children(settings: Settings) -> dict[str, int]:
    """The pid of each child of the stack on this data directory, as its launcher wrote them down."""
    record = json.loads((settings.data_dir / "stack.json").read_text())
    return {name: pid for name, (pid, _) in record.items() if name != "launcher"}


@pytest.mark.parametrize("child", ["triton", "redis", "postgres", "gateway"])
def test_a_killed_child_is_restarted_and_the_stack_serves_again(tmp_path: Path, child: str) -> None:
    """And the job it was running completes, once: run again after a Triton or gateway crash, resumed after Redis's
    (its record outlives Redis in the append-only file)."""
    settings = stack_settings(tmp_path / "data", models=["text2midi", "fluidsynth"], job_lease_seconds=3)
    said = tmp_path / "serve.err"
    serve = _serve_writing_to(settings, said)
    target = f"127.0.0.1:{settings.grpc_port}"
    try:
        wait_until(lambda: "serving on" in said.read_text(), "the stack came up", timeout_s=120)
        with MusicClient(target, timeout=30) as client:
            long_song = compose_request("ambient 60", options=song_options(bars=16), bypass_cache=True)
            job = client.submit_job(job_request(long_song))
            wait_until(lambda: client.get_job(job.id).state == jobs_pb2.JOB_STATE_RUNNING, "the job runs")
        time.sleep(1.5)  # Redis writes its append-only file every second
        killed = _children(settings)[child]
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: f"{child} is back" in said.read_text(), f"{child} came back", timeout_s=120)
        assert f"{child} was killed by SIGKILL; restarting it in 0 s" in said.read_text()
        assert _children(settings)[child] != killed
        wait_until(lambda: gateway_serving(f"127.0.0.1:{settings.grpc_port}"), "the stack serves again", timeout_s=60)
        with MusicClient(target, timeout=180) as client:
            assert client.compose(compose_request("techno 130", options=song_options(bars=1))).mix.shape[1] == 2
            outcome = client.watch_job(job.id)
            assert outcome.succeeded, outcome.job
            assert isinstance(outcome.result, ComposeResult)
            assert outcome.result.info.bars == 16
            assert [listed.id for listed in client.iter_jobs()] == [job.id]
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
    _assert_nothing_left(settings)


def test_a_killed_launcher_takes_its_children_along_and_the_next_one_starts(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "data", models=["text2midi"])
    said = tmp_path / "first.err"
    first = _serve_writing_to(settings, said)
    try:
        wait_until(lambda: "serving on" in said.read_text(), "the stack came up", timeout_s=120)
        children = _children(settings)
        first.kill()
        first.wait()
        wait_until(lambda: all(map(is_gone, children.values())), "no child of the killed launcher runs")
    finally:
        if first.poll() is None:
            first.kill()
    second = _serve_writing_to(settings, tmp_path / "second.err")
    try:
        wait_until(lambda: _up(second, settings), "the next stack came up on the same ports", timeout_s=120)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        if second.poll() is None:
            second.kill()
    _assert_nothing_left(settings)


def test_a_second_stack_on_a_live_stacks_data_is_refused(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "data", models=["text2midi"])
    with Stack(settings) as running:
        # Started from another process, as a second `dgx-music serve` would be.
        code = "from deploy.launcher import Stack; from deploy.settings import Settings; Stack(Settings()).start()"
        env = {**os.environ, **settings_environment(running.settings)}
        second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        assert all(child.process.poll() is None for child in running.children), "the first stack runs on"
    assert second.returncode != 0
    assert f"another dgx-music stack (pid {os.getpid()}) runs on" in second.stderr
    _assert_nothing_left(settings)


def test_a_new_stack_ends_the_stubs_a_killed_triton_left(tmp_path: Path) -> None:
    """Triton's python stubs outlive a Triton that was killed (one it was starting as it died escapes even the kill
    of its group): the next stack on the data directory ends whatever runs from it."""
    settings = stack_settings(tmp_path / "data", models=["text2midi"])
    orphan_program = settings.data_dir / "triton" / "orphaned_stub"
    orphan_program.parent.mkdir(parents=True)
    shutil.copy2("/bin/sleep", orphan_program)
    orphan = subprocess.Popen([str(orphan_program), "600"], start_new_session=True)
    # What a killed launcher left: its record, naming a launcher that no longer runs (no pid is this large).
    (settings.data_dir / "stack.json").write_text(json.dumps({"launcher": [2**22 + 1, 0]}))
    try:
        with Stack(settings):
            assert orphan.wait(timeout=30) == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            orphan.kill()
    _assert_nothing_left(settings)
