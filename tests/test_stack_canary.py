"""A python stub that dies is found by the gateway's canary (gateway.canary), not by the next request to its model:
the model is reloaded, no old process is left behind, and health says NOT_SERVING until it is back."""

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import tritonclient.grpc as triton_grpc

from clients.client import MusicClient, song_options
from deploy import triton
from deploy.launcher import Stack
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.canary import ProbeCanary
from gateway.health import CANARY_SECONDS
from gateway.memory import model_stubs
from gateway.triton import TritonModels
from waiting import is_gone, wait_until

# The canary looks every CANARY_SECONDS; basic_pitch unloads and loads again in a few seconds.
RECOVERY_BOUND_S = CANARY_SECONDS + 20


def gateway_events(stack: Stack, event: str) -> list[dict[str, Any]]:
    """The gateway's log lines of one event, oldest first."""
    lines = (Path(stack.log_dir) / "gateway.log").read_text().splitlines()
    found = (json.loads(line) for line in lines if f'"{event}"' in line)
    return [entry for entry in found if entry.get("event") == event]


def about(model: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry.get("model") == model]


def is_reaped(pid: int) -> bool:
    """Whether the process is gone altogether: not even a zombie waiting for its parent."""
    return not Path(f"/proc/{pid}").exists()


def test_a_stub_killed_while_idle_is_found_and_its_model_reloaded_without_a_request(
    stack: Stack, client: MusicClient
) -> None:
    """basic_pitch (two instances) loses one stub to kill -9 and is sent nothing: within RECOVERY_BOUND_S it is
    READY again on two new stubs, the killed stub reaped and its sibling ended, and health SERVING once more."""
    port = stack.settings.triton_grpc_port
    wait_until(lambda: client.health() == "SERVING", "the stack serves", timeout_s=30)
    old = model_stubs(port)["basic_pitch"]
    assert len(old) == 2, "basic_pitch runs two instances, each its own stub"
    reloads_before = len(about("basic_pitch", gateway_events(stack, "reloading_model")))
    health_before = len(gateway_events(stack, "health"))
    os.kill(old[0], signal.SIGKILL)

    def reloaded() -> bool:
        states = {model.name: model.state for model in client.list_models()}
        new = model_stubs(port).get("basic_pitch", [])
        return (
            states["basic_pitch"] == pb.MODEL_STATE_READY
            and len(new) == 2
            and not set(new) & set(old)
            and all(map(is_reaped, old))
        )

    wait_until(reloaded, "basic_pitch reloaded on new stubs, the old ones reaped", timeout_s=RECOVERY_BOUND_S)
    [died] = about("basic_pitch", gateway_events(stack, "model_stub_died"))[-1:]
    assert died["found"] == f"stub {old[0]} died"
    reloads = about("basic_pitch", gateway_events(stack, "reloading_model"))[reloads_before:]
    assert [entry["found_by"] for entry in reloads] == ["canary"]
    said = gateway_events(stack, "health")[health_before:]
    assert said[0]["serving"] is False
    assert said[0]["dead"] == {"basic_pitch": f"stub {old[0]} died"}
    wait_until(lambda: client.health() == "SERVING", "health came back after the reload", timeout_s=10)


async def test_probes_find_a_stub_that_does_not_answer_and_only_that(stack: Stack, client: MusicClient) -> None:
    """The canary of a Triton elsewhere (ProbeCanary, here on the stack's Triton) probes every model at once: each
    answers, until its stub hangs (SIGSTOP: /proc still shows it, and Triton finds it not healthy as a dead one)."""
    models = TritonModels(f"127.0.0.1:{stack.settings.triton_grpc_port}")
    canary = ProbeCanary(models)
    try:
        assert await canary.look(stack.settings.models) == {}
        [hung] = model_stubs(stack.settings.triton_grpc_port)["text2midi"]
        os.kill(hung, signal.SIGSTOP)
        try:
            dead = await canary.look(stack.settings.models)
            assert list(dead) == ["text2midi"]
            assert "is not healthy" in dead["text2midi"]
            # The gateway's own canary sees the process still there; a request reloads the model and ends it.
            assert client.generate_midi("uk garage 132", song_options(bars=1)).midi.startswith(b"MThd")
            wait_until(lambda: is_gone(hung), "the hung stub was ended")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(hung, signal.SIGCONT)
        assert await canary.look(stack.settings.models) == {}
    finally:
        await models.close()


def test_a_model_reloaded_through_triton_with_another_config_is_left_as_loaded(stack: Stack) -> None:
    """An operator's reload through Triton's repository API (here: text2midi without its dynamic batcher) replaces the
    model's stubs; the canary must not take that for a death and load the repository's config back over it."""
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{stack.settings.triton_grpc_port}")
    headers = triton.grpc_key_headers(stack.settings)
    own = client.get_model_config("text2midi", as_json=True)["config"]
    unbatched = {key: value for key, value in own.items() if key != "dynamic_batching"}
    reloads_before = len(about("text2midi", gateway_events(stack, "reloading_model")))
    try:
        client.load_model("text2midi", config=json.dumps(unbatched), headers=headers)
        assert "dynamic_batching" not in client.get_model_config("text2midi", as_json=True)["config"]
        time.sleep(2 * CANARY_SECONDS + 1)  # two looks of the canary: the replaced stubs seen, then compared
        assert "dynamic_batching" not in client.get_model_config("text2midi", as_json=True)["config"]
        assert len(about("text2midi", gateway_events(stack, "reloading_model"))) == reloads_before
    finally:
        client.load_model("text2midi", config=json.dumps(own), headers=headers)
        client.close()
