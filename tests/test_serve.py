"""`dgx-music serve`: starts the three processes, stops them all on SIGINT/SIGTERM, leaves nothing behind, and
says clearly when it cannot start."""

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clients.client import MusicClient
from conftest import stack_settings
from deploy import triton
from deploy.launcher import LaunchError, Stack, _gateway_serving, settings_environment
from deploy.settings import PROJECT_ROOT, Settings
from waiting import wait_until

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
    return _gateway_serving(settings.grpc_port)


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


def test_a_killed_child_stops_the_stack_and_is_named(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "data", models=["text2midi"])
    serve = _serve(settings)
    try:
        wait_until(lambda: _up(serve, settings), "the stack came up", timeout_s=120)
        [tritonserver] = _processes_mentioning(f"--grpc-port={settings.triton_grpc_port} ")
        os.kill(tritonserver, signal.SIGKILL)
        assert serve.wait(timeout=60) == 1
        assert "triton was killed by SIGKILL; stopping" in (serve.stderr.read() if serve.stderr else "")
    finally:
        if serve.poll() is None:
            serve.kill()
    assert _processes_mentioning(str(settings.data_dir.resolve())) == []
    assert not list(Path("/dev/shm").glob(f"{triton.shm_prefix(settings.triton_grpc_port)}*"))
