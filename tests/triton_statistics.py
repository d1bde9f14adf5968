"""Triton's per-model inference statistics, read once they have settled.

Triton records a request's statistics after the model's execute() returns, which can be after the client already
holds the final response (always so for decoupled models), so a read straight after a call may miss that call.
"""

import time

import tritonclient.grpc as triton_grpc

from deploy.launcher import Stack


def model_counts(stack: Stack, model: str) -> tuple[int, int]:
    """(inference_count, execution_count) of one model, as Triton reports them now."""
    with triton_grpc.InferenceServerClient(f"127.0.0.1:{stack.settings.triton_grpc_port}") as triton:
        stats = triton.get_inference_statistics(model, as_json=True)["model_stats"][0]
    return int(stats.get("inference_count", 0)), int(stats.get("execution_count", 0))


def settled_counts(stack: Stack, model: str, *, quiet_s: float = 0.3, timeout_s: float = 10.0) -> tuple[int, int]:
    """The counts once they have stayed the same for `quiet_s` (no call of ours is still being recorded)."""
    deadline = time.monotonic() + timeout_s
    counts = model_counts(stack, model)
    while True:
        time.sleep(quiet_s)
        latest = model_counts(stack, model)
        if latest == counts or time.monotonic() > deadline:
            return latest
        counts = latest
