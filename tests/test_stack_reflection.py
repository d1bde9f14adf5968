"""Server reflection and health, as grpcurl users see them: `buf curl` calls the API with JSON alone."""

import base64
import json
import subprocess
import urllib.request

import pytest

from conftest import BUF
from deploy.launcher import Stack


def buf_curl(stack: Stack, method: str, body: dict[str, object] | None = None, *extra: str) -> dict[str, object]:
    argv = [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", *extra]
    if body is not None:
        argv += ["-d", json.dumps(body)]
    argv.append(f"http://{stack.gateway_target}/{method}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


@pytest.fixture(scope="module", autouse=True)
def need_buf() -> None:
    if not BUF.exists():
        pytest.fail(f"{BUF} is missing: run `make setup`")


def test_reflection_lists_the_services(stack: Stack) -> None:
    argv = [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services"]
    done = subprocess.run([*argv, f"http://{stack.gateway_target}"], capture_output=True, text=True, check=True)
    services = set(done.stdout.split())
    assert {"dgxmusic.v1.MusicService", "grpc.health.v1.Health"} <= services


def test_buf_curl_generate_midi_with_json(stack: Stack) -> None:
    reply = buf_curl(
        stack,
        "dgxmusic.v1.MusicService/GenerateMidi",
        {"prompt": "house 124 with 909 drums, A minor", "options": {"bars": 4}},
    )
    songs = reply["songs"]
    assert isinstance(songs, list)
    assert len(songs) == 1
    midi = songs[0]
    assert base64.b64decode(midi["midi"]).startswith(b"MThd")
    assert midi["info"]["bpm"] == 124
    assert midi["info"]["bars"] == 4
    assert midi["info"]["key"] == "A minor"


def test_health_over_grpc_and_metrics(stack: Stack) -> None:
    assert buf_curl(stack, "grpc.health.v1.Health/Check", {}) == {"status": "SERVING"}
    assert buf_curl(stack, "grpc.health.v1.Health/Check", {"service": "dgxmusic.v1.MusicService"}) == {
        "status": "SERVING"
    }
    url = f"http://127.0.0.1:{stack.settings.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    assert "dgxmusic_requests_total" in text
    assert "dgxmusic_stage_seconds" in text
