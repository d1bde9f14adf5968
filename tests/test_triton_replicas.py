"""DGXMUSIC_TRITON_URL's forms and their validation, the channel that balances over replicas, and the one repeat of
a call whose replica went away (on a fake Triton client: what reaches the gateway when a replica dies). The real
replicas are tests/test_stack_replicas.py's."""

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import ValidationError
from tritonclient.utils import InferenceServerException

from deploy import triton
from deploy.settings import PROJECT_ROOT, Settings
from deploy.triton_url import Replica, TritonUrlError, parse
from gateway.errors import QUEUE_TIMEOUT_MESSAGE, ApiError
from gateway.triton import CHANNEL_ARGS, TritonModels


@pytest.mark.parametrize(
    ("url", "form", "replicas", "local_port"),
    [
        ("127.0.0.1:8001", "host", [("127.0.0.1", 8001)], 8001),
        ("localhost:8001", "host", [("localhost", 8001)], 8001),
        ("[::1]:8001", "host", [("[::1]", 8001)], 8001),
        ("triton.example.org:8001", "host", [("triton.example.org", 8001)], None),
        ("dns:///triton-headless:8001", "dns", [("triton-headless", 8001)], None),
        ("ipv4:127.0.0.1:8001,127.0.0.1:8011", "ipv4", [("127.0.0.1", 8001), ("127.0.0.1", 8011)], None),
        ("ipv4:127.0.0.1:8001", "ipv4", [("127.0.0.1", 8001)], 8001),
    ],
)
def test_each_form_names_its_replicas(url: str, form: str, replicas: list[tuple[str, int]], local_port: int) -> None:
    parsed = parse(url)
    assert (parsed.form, parsed.replicas) == (form, tuple(Replica(*r) for r in replicas))
    assert parsed.local_port == local_port  # a stub of which replica is whose is known for one local Triton only


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "empty"),
        (" 127.0.0.1:8001", "spaces"),
        ("127.0.0.1", "no port"),
        ("127.0.0.1:0", "port '0'"),
        ("127.0.0.1:http", "port 'http'"),
        ("dns://triton:8001", "three slashes"),
        ("dns:///triton", "no port"),
        ("ipv4:triton:8001", "IPv4 addresses only"),
        ("ipv4:127.0.0.1:8001,127.0.0.1:8001", "twice"),
        ("ipv4:127.0.0.1:8001,", "no port"),
        ("http://triton:8001", "none of the forms"),
        ("127.0.0.1:8001,127.0.0.1:8011", "none of the forms"),
        ("triton_1:8001", "not a host name"),
        ("[::g]:8001", "not an IPv6 address"),
    ],
)
def test_a_bad_url_is_refused_saying_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(TritonUrlError, match=says):
        parse(url)


def test_the_setting_is_validated() -> None:
    with pytest.raises(ValidationError, match="triton_url"):
        Settings(triton_url="ipv4:triton:8001")
    assert Settings(triton_url="dns:///triton-headless:8001").triton_url == "dns:///triton-headless:8001"


def _command(name: str, *args: str, **env: str) -> tuple[int, str]:
    """Exit status and output (its lines unwrapped) of `dgx-music NAME ARGS` from this checkout."""
    run = f"from deploy.cli import {name}; {name}(prog_name='dgx-music {name}')"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DGXMUSIC_")} | env
    argv = [sys.executable, "-c", run, *args]
    done = subprocess.run(argv, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=60)
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def test_the_gateway_names_the_setting_at_fault() -> None:
    status, output = _command("gateway", DGXMUSIC_TRITON_URL="dns://triton:8001")
    assert status == 2
    assert "(DGXMUSIC_TRITON_URL)" in output
    assert "three slashes" in output


def test_a_triton_facing_a_network_needs_its_key(tmp_path: Path) -> None:
    status, output = _command("triton", "--host", "0.0.0.0", DGXMUSIC_DATA_DIR=str(tmp_path))
    assert status == 2
    assert "DGXMUSIC_TRITON_API_KEY" in output
    assert not any(tmp_path.iterdir())  # refused before anything was prepared


def test_the_channel_balances_per_request_and_notices_a_silent_replica_in_seconds() -> None:
    args = dict(CHANNEL_ARGS)
    assert args["grpc.lb_policy_name"] == "round_robin"
    # A replica that stops answering (its host gone) is given up within keepalive time + timeout.
    assert int(args["grpc.keepalive_time_ms"]) + int(args["grpc.keepalive_timeout_ms"]) <= 15_000
    assert args["grpc.keepalive_permit_without_calls"] == 1


def test_triton_accepts_the_gateways_pings_and_listens_where_told(tmp_path: Path) -> None:
    install = triton.TritonInstall(tmp_path, tmp_path)
    argv = triton.command(install, Settings(), repository=tmp_path / "repo", host="0.0.0.0", flags=["--rate-limit=x"])
    assert {f"--{kind}-address=0.0.0.0" for kind in ("grpc", "http", "metrics")} <= set(argv)
    assert set(triton.KEEPALIVE_FLAGS) <= set(argv)
    assert f"--model-repository={tmp_path / 'repo'}" in argv
    assert argv[-1] == "--rate-limit=x"
    assert "--grpc-address=127.0.0.1" in triton.command(install, Settings())  # loopback unless told otherwise


def test_a_triton_facing_a_network_asks_its_key_for_all_but_health(tmp_path: Path) -> None:
    install = triton.TritonInstall(tmp_path, tmp_path)
    settings = Settings(triton_api_key="k")
    key = f":{triton.API_KEY_HEADER}=k"
    open_argv = triton.command(install, settings, host="0.0.0.0")
    assert f"--grpc-restricted-protocol={triton.NETWORK_RESTRICTED_APIS}{key}" in open_argv
    assert f"--http-restricted-api={triton.NETWORK_RESTRICTED_APIS}{key}" in open_argv
    assert "health" not in triton.NETWORK_RESTRICTED_APIS
    assert "inference" in triton.NETWORK_RESTRICTED_APIS
    # On loopback, as `serve` runs it, local tools (loadtest --triton, statistics) still reach inference.
    assert f"--grpc-restricted-protocol={triton.RESTRICTED_APIS}{key}" in triton.command(install, settings)


def _unavailable(message: str = "Socket closed") -> InferenceServerException:
    return InferenceServerException(message, status=str(grpc.StatusCode.UNAVAILABLE))


class _Replicas:
    """A Triton client whose calls meet `failures` first (what a replica that went away answers), then succeed."""

    def __init__(self, *failures: Exception, answers: int = 1, fail_after_first: bool = False) -> None:
        self.failures = list(failures)
        self.answers = answers
        self.fail_after_first = fail_after_first
        self.calls = 0

    async def infer(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "result"

    async def stream_infer(self, requests: AsyncIterator[Any], **kwargs: Any) -> AsyncIterator[tuple[Any, Any]]:
        self.calls += 1
        async for _ in requests:
            pass
        if self.failures and not self.fail_after_first:
            raise self.failures.pop(0)
        for index in range(self.answers):
            yield f"response {index}", None
            if self.failures and self.fail_after_first:
                raise self.failures.pop(0)

    async def close(self) -> None:
        pass


def _models(client: _Replicas) -> TritonModels:
    models = TritonModels("ipv4:127.0.0.1:1,127.0.0.1:2")
    models.client = client
    return models


async def test_a_call_whose_replica_went_away_is_repeated_once() -> None:
    client = _Replicas(_unavailable())
    assert await _models(client)._infer("text2midi", [], deadline=5) == "result"
    assert client.calls == 2

    client = _Replicas(_unavailable(), _unavailable())
    with pytest.raises(ApiError) as raised:
        await _models(client)._infer("text2midi", [], deadline=5)
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert client.calls == 2


async def test_a_queue_timeout_is_not_repeated() -> None:
    client = _Replicas(_unavailable(QUEUE_TIMEOUT_MESSAGE))
    with pytest.raises(ApiError):
        await _models(client)._infer("text2midi", [], deadline=5)
    assert client.calls == 1


async def test_a_stream_is_repeated_only_before_its_first_response() -> None:
    client = _Replicas(grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata()))
    results = [r async for r in _models(client)._stream("demucs", [], deadline=5, request_id="r")]
    assert results == ["response 0"]
    assert client.calls == 2

    client = _Replicas(_unavailable(), answers=2, fail_after_first=True)
    received = []
    stream = _models(client)._stream("demucs", [], deadline=5, request_id="r")
    received.append(await anext(stream))
    with pytest.raises(ApiError) as raised:
        await anext(stream)
    assert received == ["response 0"]
    assert client.calls == 1
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
