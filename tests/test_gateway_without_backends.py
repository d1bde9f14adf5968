"""The gateway alone, with Triton and Redis down: it serves health (NOT_SERVING) and answers UNAVAILABLE, and
Redis being down costs only the cache."""

import os
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

from clients.client import MusicClient, compose_request, song_options
from clients.errors import DgxMusicError
from deploy.launcher import free_ports


@pytest.fixture(scope="module")
def lonely_gateway() -> Iterator[str]:
    port, triton_port, redis_port = free_ports(3)
    env = {
        **os.environ,
        "DGXMUSIC_GRPC_PORT": str(port),
        "DGXMUSIC_METRICS_PORT": "0",
        "DGXMUSIC_TRITON_URL": f"127.0.0.1:{triton_port}",
        "DGXMUSIC_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    gateway = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stderr=subprocess.DEVNULL)
    target = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
        yield target
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)


def test_health_is_not_serving(lonely_gateway: str) -> None:
    with MusicClient(lonely_gateway, timeout=5) as client:
        assert client.health() == "NOT_SERVING"
        assert client.health("dgxmusic.v1.MusicService") == "NOT_SERVING"


def send(client: MusicClient, call: str) -> None:
    if call == "compose":
        client.compose(compose_request("house 124", options=song_options(bars=1)))
    else:
        client.generate_midi("house 124")


@pytest.mark.parametrize("call", ["generate_midi", "compose"])
def test_calls_get_unavailable(lonely_gateway: str, call: str) -> None:
    with MusicClient(lonely_gateway, timeout=20) as client, pytest.raises(DgxMusicError) as caught:
        send(client, call)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert "text2midi" in caught.value.message
