"""`dgx-music serve`: starts the three processes, stops them all on SIGINT/SIGTERM, leaves nothing behind, and
says clearly when it cannot start."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clients.client import MusicClient
from conftest import stack_settings
from deploy import triton
from deploy.launcher import LaunchError, Stack, settings_environment


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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_and_stops_cleanly(tmp_path: Path, signum: int) -> None:
    settings = stack_settings(tmp_path / "data")
    env = {**os.environ, **settings_environment(settings)}
    serve = subprocess.Popen([sys.executable, "-m", "clients.cli", "serve"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        with MusicClient(f"127.0.0.1:{settings.grpc_port}", timeout=1) as client:
            while True:
                assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
                try:
                    if client.health() == "SERVING":
                        break
                except Exception:
                    assert time.monotonic() < deadline, "the stack did not come up"
                    time.sleep(0.25)
            assert client.generate_midi("techno 130").midi.startswith(b"MThd")
        assert list(Path("/dev/shm").glob(f"{triton.shm_prefix(settings.triton_grpc_port)}*")), (
            "Triton's stubs use /dev/shm"
        )
        serve.send_signal(signum)
        assert serve.wait(timeout=60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
    assert _processes_mentioning(str(settings.data_dir.resolve())) == []
    assert _processes_mentioning(f"--grpc-port={settings.triton_grpc_port}") == []
    assert not list(Path("/dev/shm").glob(f"{triton.shm_prefix(settings.triton_grpc_port)}*"))


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
