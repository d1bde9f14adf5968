"""Runs Triton from the nvidia-pytriton wheel on any machine (the embedded default): lays out a server folder with
the python backend stub for this interpreter and builds the command line (see ARCHITECTURE.md for why each flag)."""

import os
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.settings import Settings
from dgxmusic.network import is_loopback


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


# The request header that carries the stack's Triton key (Settings.triton_api_key).
API_KEY_HEADER = "dgxmusic-triton-key"
# Triton's APIs that only the stack may use: loading and unloading models (which runs the code it is given), and
# registering shared memory, logging and tracing (which read and write files as Triton's user). Health, metadata,
# statistics and inference stay open to local clients.
RESTRICTED_APIS = "model-repository,shared-memory,logging,trace"


def http_key_headers(settings: Settings) -> dict[str, str]:
    """The headers an HTTP request to one of Triton's restricted APIs carries."""
    key = settings.triton_api_key
    return {} if key is None else {API_KEY_HEADER: key.get_secret_value()}


def grpc_key_headers(settings: Settings) -> dict[str, str]:
    """The metadata a gRPC call to one of Triton's restricted protocols carries: Triton expects the header under
    its own prefix there."""
    return {f"triton-grpc-protocol-{name}": value for name, value in http_key_headers(settings).items()}


# A Triton that listens beyond loopback (a pod's) answers only health (its probes) without the key: inference,
# metadata, configs and statistics ask for it too. The gateway sends the key on every call.
NETWORK_RESTRICTED_APIS = f"{RESTRICTED_APIS},inference,metadata,model-config,statistics"


def _restrictions(settings: Settings, host: str) -> list[str]:
    if settings.triton_api_key is None:
        return []
    apis = RESTRICTED_APIS if is_loopback(host) else NETWORK_RESTRICTED_APIS
    restriction = f"{apis}:{API_KEY_HEADER}={settings.triton_api_key.get_secret_value()}"
    return [f"--grpc-restricted-protocol={restriction}", f"--http-restricted-api={restriction}"]


# Keepalive pings the gateway sends (gateway.triton.KEEPALIVE_TIME_MS: every 10 s) must not count as abuse (Triton's
# default expects at most one in 5 minutes and closes the connection after 2). A connection lives a minute at most:
# its client then reconnects and resolves a dns:/// url anew, so that new replicas (pods scaled up) get calls too;
# calls in flight finish on the old one.
KEEPALIVE_FLAGS = (
    "--grpc-keepalive-permit-without-calls=1",
    "--grpc-http2-min-recv-ping-interval-without-data=5000",
    "--grpc-http2-max-ping-strikes=0",
    "--grpc-max-connection-age=60000",
)


def command(
    install: TritonInstall,
    settings: Settings,
    *,
    repository: Path | None = None,
    host: str = "127.0.0.1",
    flags: Sequence[str] = (),
) -> list[str]:
    """tritonserver's command line: `repository` (default settings.model_repository) on settings' ports at `host`,
    with a plan's `flags` (deploy.planner's tritonserver_flags)."""
    return [
        str(install.binary),
        f"--model-repository={(repository or settings.model_repository).resolve()}",
        f"--backend-directory={install.backends}",
        "--disable-auto-complete-config",
        "--grpc-infer-allocation-pool-size=0",
        "--pinned-memory-pool-byte-size=0",
        f"--grpc-address={host}",
        f"--grpc-port={settings.triton_grpc_port}",
        f"--http-address={host}",
        f"--http-port={settings.triton_http_port}",
        f"--metrics-address={host}",
        f"--metrics-port={settings.triton_metrics_port}",
        *KEEPALIVE_FLAGS,
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
        *_restrictions(settings, host),
        *flags,
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
