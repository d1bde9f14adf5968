"""The operator's `dgx-music` commands: `serve` and `demo` run the embedded stack, `plan` renders a model repository
for a hardware profile, `models pull` fetches weights, `keys new` makes a client's API key. They join the client's
CLI through the entry points `dgx_music.commands` and `dgx_music.models_commands` (pyproject.toml), so the CLI offers
them only where the server is installed."""

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.markup import escape

from clients.cli import Server, compose_to, console
from deploy import k8s
from deploy.keys import with_keys
from deploy.launcher import LaunchError, Stack, run_triton
from deploy.launcher import serve as serve_stack
from deploy.planner import PlanError, PlanFilesError, load_profile
from deploy.planner import plan as plan_repository
from deploy.settings import ApiKey, Settings
from dgxmusic.network import is_loopback
from gateway import server as gateway_server
from gateway.auth import key_hash, new_key

DEMO_PROMPT = "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor"

_PORT = click.IntRange(1, 65535)
# A key's name is part of an environment variable's name (DGXMUSIC_API_KEYS__NAME), which pydantic reads in lowercase.
_KEY_NAME = re.compile(r"[a-z0-9_]{1,40}")


def _settings(**overrides: Any) -> Settings:
    """The server's settings (environment + overrides); a bad value is named, with exit status 2."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # A default computed from another setting fails along with it: only the setting at fault is named.
        for error in (e for e in exc.errors() if e["type"] != "default_factory_not_called"):
            field = ".".join(map(str, error["loc"]))
            console.print(
                f"[red]error[/red] setting {escape(field)} (DGXMUSIC_{escape(field.upper())}): {escape(error['msg'])}"
            )
        sys.exit(2)


@click.command()
@click.option("--port", "grpc_port", type=_PORT, help="gateway port (default 50051, or $DGXMUSIC_GRPC_PORT)")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Redis data, Triton, logs")
@click.option("--triton-grpc-port", type=_PORT)
@click.option("--redis-port", type=_PORT)
def serve(**overrides: Any) -> None:
    """Run the embedded default: redis-server, tritonserver and the gateway. Every setting is also read from the
    environment (DGXMUSIC_*; see deploy/settings.py)."""
    settings = _settings(**{k: v for k, v in overrides.items() if v is not None})
    try:
        sys.exit(serve_stack(settings))
    except LaunchError as exc:
        console.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)


@click.command()
@click.option("--profile", default="embedded", show_default=True, help="a name in deploy/profiles or a .toml path")
@click.option("--grpc-port", "triton_grpc_port", type=_PORT, help="default 8001, or $DGXMUSIC_TRITON_GRPC_PORT")
@click.option("--http-port", "triton_http_port", type=_PORT, help="default 8000, or $DGXMUSIC_TRITON_HTTP_PORT")
@click.option("--metrics-port", "triton_metrics_port", type=_PORT, help="default 8002, $DGXMUSIC_TRITON_METRICS_PORT")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="address to listen on; another than loopback (a pod's 0.0.0.0) needs DGXMUSIC_TRITON_API_KEY set",
)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="its server and model repository")
def triton(profile: str, host: str, **overrides: Any) -> None:
    """Run one Triton replica: render the model repository for PROFILE (as `plan` does), prepare the server and its
    Python stub, and run tritonserver until SIGTERM or Ctrl-C. Its models are DGXMUSIC_MODELS; its restricted APIs
    (loading models, shared memory) answer only DGXMUSIC_TRITON_API_KEY, by default the data directory's key."""
    settings = _settings(**{k: v for k, v in overrides.items() if v is not None})
    if not is_loopback(host) and settings.triton_api_key is None:
        # Without its key, anyone who reaches Triton could load a model: code that it runs.
        console.print("[red]error[/red] --host is not a loopback address: set DGXMUSIC_TRITON_API_KEY (a Secret)")
        sys.exit(2)
    work_dir = settings.data_dir.resolve() / f"triton-{settings.triton_grpc_port}"
    repository = work_dir / "model_repository"
    try:
        summary = plan_repository(load_profile(profile), repository)
        settings = with_keys(settings, ["triton_api_key"])
        flags = [str(flag) for flag in summary["tritonserver_flags"]]  # type: ignore[attr-defined]
        sys.exit(run_triton(settings, work_dir, repository=repository, host=host, flags=flags))
    except PlanError as exc:
        console.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1 if isinstance(exc, PlanFilesError) else 2)
    except (LaunchError, OSError) as exc:
        console.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)


@click.command()
@click.option("--port", "grpc_port", type=_PORT, help="default 50051, or $DGXMUSIC_GRPC_PORT")
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="Prometheus; 9464, or $DGXMUSIC_METRICS_PORT")
def gateway(**overrides: Any) -> None:
    """Run the gateway alone, on the Triton replicas of DGXMUSIC_TRITON_URL (host:port, dns:///name:port or
    ipv4:host:port,host:port) and the Redis of DGXMUSIC_REDIS_URL, until SIGTERM or Ctrl-C. Gateways sharing one
    Redis (and DGXMUSIC_CACHE_SIGNING_KEY) answer each other's cached results and jobs."""
    settings = _settings(**{k: v for k, v in overrides.items() if v is not None})
    try:
        settings = with_keys(settings, ["triton_api_key", "cache_signing_key"])
    except OSError as exc:
        console.print(f"[red]error[/red] keys of data directory {escape(str(settings.data_dir))}: {escape(str(exc))}")
        sys.exit(1)
    asyncio.run(gateway_server.serve(settings))


@click.command()
@click.argument("prompt", default=DEMO_PROMPT)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("song"), show_default=True)
def demo(prompt: str, out: Path) -> None:
    """Start the embedded stack, compose PROMPT through it into OUT, and stop the stack."""
    settings = _settings()
    try:
        with Stack(settings) as stack:
            console.print(f"stack up: gateway on {stack.gateway_target}")
            compose_to(prompt, out, Server(stack.gateway_target), 300.0)
    except LaunchError as exc:
        console.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)


@click.command()
@click.option("--profile", default="embedded", show_default=True, help="a name in deploy/profiles or a .toml path")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/model_repository"))
@click.option(
    "--k8s",
    "k8s_out",
    type=click.Path(file_okay=False, path_type=Path),
    help="also write Kubernetes manifests here: a kustomize base and this profile's overlay (overlays/PROFILE)",
)
def plan(profile: str, out: Path, k8s_out: Path | None) -> None:
    """Render the model repository for a hardware profile, checking that it fits the memory budget."""
    try:
        loaded = load_profile(profile)
        summary = plan_repository(loaded, out)
        overlay = None if k8s_out is None else k8s.render(loaded, k8s_out)
    except PlanError as exc:
        console.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1 if isinstance(exc, PlanFilesError) else 2)  # else the profile is at fault: bad input
    budget = f"{summary['memory_gb']} GB of {summary['budget_gb']}"
    console.print(f"wrote {escape(str(out))} for profile {escape(profile)}: {budget}")
    if summary["tritonserver_flags"]:
        console.print(f"tritonserver flags: {' '.join(summary['tritonserver_flags'])}")  # type: ignore[arg-type]
    if overlay is not None:
        console.print(f"wrote Kubernetes manifests: kubectl apply -k {escape(str(overlay))}")


@click.command()
@click.argument("name")
def pull(name: str) -> None:
    """Fetch NAME's weights (htdemucs, musicgen-small...) into the Hugging Face cache the server reads; needs
    network."""
    # Imported here: they import torch, which takes seconds, and only this command needs them.
    import generator
    import separator

    try:
        places = generator.pull_weights(name) if name.startswith("musicgen") else [separator.pull_weights(name)]
    except (separator.SeparatorError, generator.GeneratorError) as exc:
        console.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)
    console.print(f"{escape(name)}: weights in {escape(', '.join(map(str, places)))}")


@click.group()
def keys() -> None:
    """API keys of clients of a gateway that faces a network."""


@keys.command("new")
@click.argument("name")
@click.option("--requests-per-minute", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True)
@click.option("--burst", type=click.IntRange(min=1), default=10, show_default=True, help="calls at once")
def new(name: str, requests_per_minute: float, burst: int) -> None:
    """Make an API key for the client NAME: prints the key (shown this once: give it to the client) and the setting
    that lets it in, which holds only the key's hash."""
    if not _KEY_NAME.fullmatch(name):
        raise click.BadParameter("lowercase letters, digits and _, at most 40", param_hint="NAME")
    key = new_key()
    entry = ApiKey(hash=key_hash(key), requests_per_minute=requests_per_minute, burst=burst)
    click.echo(key)
    console.print(f"the key above is shown once; give it to {escape(name)}. The gateway's setting:")
    setting = json.dumps(entry.model_dump(mode="json"))
    console.print(escape(f"DGXMUSIC_API_KEYS__{name.upper()}='{setting}'"), soft_wrap=True, highlight=False)
