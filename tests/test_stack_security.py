"""The backends answer only the stack: Triton's repository, shared-memory, logging and trace APIs want the stack's
key, Redis wants its password and refuses the commands the gateway never uses, a cached result that the stack did
not sign is never served, and the stack's keys, logs and data are its owner's alone."""

import base64
import json
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
import tritonclient.grpc as triton_grpc
from tritonclient.utils import InferenceServerException

from clients.client import MusicClient, compose_request, song_options
from conftest import stack_redis
from deploy import triton
from deploy.keys import keys_path
from deploy.launcher import Stack
from waiting import wait_until

EVIL_MODEL = """
import os
class TritonPythonModel:
    def initialize(self, args):
        os.system("touch /tmp/dgxmusic-pwned")
"""


def http(stack: Stack, path: str, body: dict[str, object] | None = None, headers: dict[str, str] | None = None) -> int:
    """The HTTP status Triton answers a request on its HTTP port with."""
    data = None if body is None else json.dumps(body).encode()
    url = f"http://127.0.0.1:{stack.settings.triton_http_port}{path}"
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_loading_code_into_triton_needs_the_stacks_key(stack: Stack) -> None:
    config = 'name: "evil"\nbackend: "python"\nmax_batch_size: 0\ninput [{ name: "X" data_type: TYPE_FP32 dims: [1] }]'
    files = {"config": config, "file:1/model.py": base64.b64encode(EVIL_MODEL.encode()).decode()}
    assert http(stack, "/v2/repository/models/evil/load", {"parameters": files}) >= 400
    assert http(stack, "/v2/repository/models/text2midi/unload", {}) >= 400
    assert http(stack, "/v2/logging", {"log_file": "/tmp/dgxmusic-log"}) >= 400
    assert http(stack, "/v2/trace/setting", {"trace_file": "/tmp/dgxmusic-trace"}) >= 400
    with triton_grpc.InferenceServerClient(f"127.0.0.1:{stack.settings.triton_grpc_port}") as client:
        with pytest.raises(InferenceServerException, match="restricted"):
            client.unload_model("text2midi")
        with pytest.raises(InferenceServerException, match="restricted"):
            client.get_model_repository_index()
        assert client.is_model_ready("text2midi"), "health and inference stay open"
        index = client.get_model_repository_index(headers=triton.grpc_key_headers(stack.settings), as_json=True)
    assert "evil" not in {model["name"] for model in index["models"]}
    assert not Path("/tmp/dgxmusic-pwned").exists()


def test_redis_wants_the_password_and_refuses_what_the_gateway_never_does(stack: Stack) -> None:
    with redis.Redis(port=stack.settings.redis_port) as stranger, pytest.raises(redis.AuthenticationError):
        stranger.ping()
    with stack_redis(stack) as gateway_view:
        assert gateway_view.ping()
        for command in (("FLUSHALL",), ("CONFIG", "SET", "appendonly", "no"), ("KEYS", "*"), ("DEBUG", "SLEEP", "0")):
            with pytest.raises(redis.ResponseError, match=r"no permissions|not allowed"):
                gateway_view.execute_command(*command)
        with pytest.raises(redis.exceptions.NoPermissionError):
            gateway_view.set("somebody-elses-key", "x")


def test_a_cached_result_the_stack_did_not_sign_is_never_served(stack: Stack, client: MusicClient) -> None:
    request = compose_request("forgery check: lofi hip hop 80", options=song_options(bars=1, seed=4242))
    with stack_redis(stack) as cache:
        before = set(cache.scan_iter(match="dgxmusic:*:compose:*"))
        first = client.compose(request)
        entries: set[bytes] = set()

        def written() -> bool:
            entries.update(set(cache.scan_iter(match="dgxmusic:*:compose:*")) - before)
            return bool(entries)

        wait_until(written, "the result was cached")
        [entry] = entries
        cache.lset(entry, 2, b"forged")  # the result's first event, or its blob's reference, altered
        again = client.compose(request)
    assert not again.summary.cache_hit
    assert again.midi == first.midi
    wait_until(lambda: client.compose(request).summary.cache_hit, "the result was cached again, signed")


def test_the_stacks_keys_logs_and_data_are_its_owners_alone(stack: Stack) -> None:
    private = [keys_path(stack.data_dir), stack.data_dir / "redis" / "redis.conf", *stack.log_dir.glob("*.log")]
    assert len(private) >= 5, private
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (stack.data_dir, stack.log_dir, stack.data_dir / "redis"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    secrets = json.loads(keys_path(stack.data_dir).read_text()).values()
    for log in stack.log_dir.glob("*.log"):
        text = log.read_text(errors="replace")
        assert not any(secret in text for secret in secrets), f"a key is in {log}"
