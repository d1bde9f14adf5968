"""Memory of the models as the host sees it. Triton runs each python-backend model instance as a stub process;
when Triton is on the gateway's host (the embedded default) their resident memory is readable from /proc. In
Kubernetes Triton runs in another pod and this reports nothing."""

import os
import signal
from pathlib import Path

from deploy import triton

_PAGE_BYTES = 4096
_STUB = b"triton_python_backend_stub"
_PROC = Path("/proc")


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, parent pid, ...); None once it is gone."""
    try:
        return (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def end_stubs(triton_grpc_port: int, model: str) -> list[int]:
    """Kills what is left of a model's stubs after Triton unloaded it: a stub Triton found unhealthy (busy past its
    health check, or hung) is not always stopped, and would run on beside the new ones. The pids killed."""
    pids = model_stubs(triton_grpc_port).get(model, [])
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
    return pids


def model_stubs(triton_grpc_port: int) -> dict[str, list[int]]:
    """The stub processes (pids) of each model of the Triton on this port."""
    # The launcher names each Triton's shared-memory regions after its port, and every stub is told its region.
    region = triton.shm_prefix(triton_grpc_port).encode()
    stubs: dict[str, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if not argv[0].endswith(_STUB) or not any(region in arg for arg in argv):
            continue
        model = next((Path(arg.decode()).parts[-3] for arg in argv if arg.endswith(b"/1/model.py")), None)
        if model is not None:
            stubs.setdefault(model, []).append(int(entry.name))
    return stubs


def model_memory(triton_grpc_port: int) -> dict[str, int]:
    """Resident bytes per model, summed over its stub processes."""
    totals: dict[str, int] = {}
    for model, pids in model_stubs(triton_grpc_port).items():
        for pid in pids:
            try:
                resident_pages = int((_PROC / str(pid) / "statm").read_text().split()[1])
            except (OSError, ValueError, IndexError):
                continue
            totals[model] = totals.get(model, 0) + resident_pages * _PAGE_BYTES
    return totals
