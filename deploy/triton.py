"""Runs Triton from the nvidia-pytriton wheel on any machine (the embedded default): lays out a server folder with
the python backend stub for this interpreter and builds the command line (see ARCHITECTURE.md for why each flag)."""

import json
import os
import re
import shutil
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.settings import Settings


class TritonNotInstalled(RuntimeError):
    """The nvidia-pytriton wheel (which bundles tritonserver) is missing."""


def _wheel_dir() -> tuple[Path, Path]:
    try:
        import pytriton
    except ImportError as exc:
        raise TritonNotInstalled(
            "tritonserver comes from the nvidia-pytriton wheel: pip install 'dgx-music[server]'"
        ) from exc
    package = Path(pytriton.__file__).resolve().parent
    return package / "tritonserver", package.parent / "nvidia_pytriton.libs"


@dataclass(frozen=True)
class TritonInstall:
    root: Path
    libs: Path

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        return self.root / "backends"


def prepare(work_dir: Path) -> TritonInstall:
    """Copies the wheel's server into work_dir (once per wheel version) with the stub for this Python."""
    source, libs = _wheel_dir()
    root = work_dir / "tritonserver"
    stub_source = source / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}"
    stamp = root / ".source"
    if not (stamp.exists() and stamp.read_text() == str(source)):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(source, root, ignore=shutil.ignore_patterns("python_backend_stubs", "__pycache__"))
        shutil.copy2(stub_source / "triton_python_backend_stub", root / "backends" / "python")
        stamp.write_text(str(source))
    return TritonInstall(root, libs)


def shm_prefix(grpc_port: int) -> str:
    """Names the /dev/shm regions of the Triton on this port, so that the launcher removes exactly its own
    leftovers (and its stub processes can be told apart)."""
    return f"dgxmusic_{grpc_port}_"


def command(install: TritonInstall, settings: Settings) -> list[str]:
    return [
        str(install.binary),
        f"--model-repository={settings.model_repository.resolve()}",
        f"--backend-directory={install.backends}",
        "--disable-auto-complete-config",
        "--grpc-infer-allocation-pool-size=0",
        "--pinned-memory-pool-byte-size=0",
        "--grpc-address=127.0.0.1",
        f"--grpc-port={settings.triton_grpc_port}",
        "--http-address=127.0.0.1",
        f"--http-port={settings.triton_http_port}",
        "--metrics-address=127.0.0.1",
        f"--metrics-port={settings.triton_metrics_port}",
        "--model-control-mode=explicit",
        *(f"--load-model={model}" for model in settings.models),
        "--exit-on-error=false",
        "--strict-readiness=true",
        f"--backend-config=python,shm-region-prefix-name={shm_prefix(settings.triton_grpc_port)}",
        # Audio tensors are tens of MB: grow the stub's shared memory in large steps, not 1 MB ones.
        "--backend-config=python,shm-default-byte-size=67108864",
        "--backend-config=python,shm-growth-byte-size=67108864",
        # A model whose stub was killed never finishes unloading; do not hold a shutdown for it.
        "--exit-timeout-secs=5",
        "--log-verbose=0",
    ]


def environment(install: TritonInstall, base: dict[str, str]) -> dict[str, str]:
    """The stub takes its Python from the first python3 on PATH and ignores PYTHONPATH, so the running venv goes
    first; this interpreter's libpython goes first on the library path so the stub links one consistent build."""
    env = dict(base)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        part for part in (libdir, str(install.libs), env.get("LD_LIBRARY_PATH", "")) if part
    )
    return env


def instance_device(args: dict[str, str]) -> str:
    """The torch device of a python-backend model instance: "cuda:N" for a KIND_GPU instance (the planner's GPU
    profiles), "cpu" otherwise. `args` is what Triton passes to initialize()."""
    if args.get("model_instance_kind") == "GPU":
        return f"cuda:{args.get('model_instance_device_id', '0')}"
    return "cpu"


def model_parameters(args: dict[str, str]) -> dict[str, str]:
    """The string parameters of a model's config.pbtxt, from the `args` Triton passes to initialize(). A parameter
    set there wins over the settings (the environment) for that model."""
    parameters: dict[str, dict[str, str]] = json.loads(args["model_config"]).get("parameters", {})
    return {key: value.get("string_value", "") for key, value in parameters.items()}


# The models' in-band errors, written by the model.py files and read by the gateway: "<field>: <reason>", or
# "<field> (too large): <reason>" for input over a limit, which Triton's error codes cannot say.
_ERROR_MESSAGE = re.compile(
    r"(?:\[request id: [^\]]*\]\s*)?(?P<field>[a-z_]+)(?P<too_large> \(too large\))?: (?P<reason>.*)", re.DOTALL
)


@dataclass(frozen=True)
class ModelError:
    field: str
    reason: str
    too_large: bool = False


def error_message(field: str, reason: object, *, too_large: bool = False) -> str:
    return f"{field}{' (too large)' if too_large else ''}: {reason}"


# A request parameter the gateway sets: when (Unix time) the client stops waiting for the answer.
DEADLINE_PARAMETER = "deadline_unix"


def past_deadline(request_parameters: str) -> bool:
    """Whether the client of a request (its `parameters()` JSON) has stopped waiting: its answer would be for nobody."""
    try:
        deadline = json.loads(request_parameters or "{}").get(DEADLINE_PARAMETER)
    except (ValueError, AttributeError):
        return False
    return isinstance(deadline, int | float) and time.time() > deadline


def unexpected_error_message(model: str, exc: BaseException) -> str:
    """What a client reads when a model fails in a way it does not handle (a bug): short, no field, no traceback;
    the model logs the traceback to Triton's log."""
    return f"{model} failed unexpectedly ({type(exc).__name__}: {exc}); the Triton log has the details"


def parse_error_message(message: str) -> ModelError | None:
    match = _ERROR_MESSAGE.match(message)
    if match is None:
        return None
    return ModelError(match["field"], match["reason"], bool(match["too_large"]))
