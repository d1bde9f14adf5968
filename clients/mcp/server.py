"""`dgx-music mcp`: the stack's tools for AI assistants over the Model Context Protocol, on stdio (what a desktop
assistant starts) or streamable HTTP (`--http HOST:PORT`, loopback by default). Beyond loopback every HTTP request
must carry its caller's API key as a bearer token; the key goes on to the gateway, which checks it, and the server
refuses to start in front of a gateway that checks none. No key is ever logged."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import click
import grpc
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from clients.cli import Server, server_option
from clients.client import AsyncMusicClient, ComposeResult, TrainResult, TranscribeResult
from clients.errors import AuthenticationError, DgxMusicError
from clients.mcp.tools import Ardour, HeldResult, ToolConfig, create_app
from dgxmusic.network import host_port, is_loopback

DEFAULT_OUT = Path("~/dgx-music")
DEFAULT_ARDOUR = "127.0.0.1:3819"


def parse_address(value: str) -> tuple[str, int]:
    """HOST:PORT ([::1]:PORT for IPv6) as (host, port), or a usage error."""
    try:
        return host_port(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


class BearerRequired:
    """ASGI guard in front of the MCP endpoint beyond loopback: a request without a bearer token is answered 401
    before it reaches a session. The token itself is checked by the gateway, on the call it is forwarded with."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _has_bearer(scope):
            refusal = PlainTextResponse(
                "send your dgx-music API key: 'Authorization: Bearer <key>'",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="dgx-music"'},
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_bearer(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and bool(token.strip())
    return False


async def refuse_a_gateway_without_keys(server: Server) -> None:
    """Beyond loopback the gateway is what checks the callers' keys: one that lets a call in without a key would
    open the stack (and this machine's Ardour) to anyone who reaches the port."""
    async with AsyncMusicClient(server.target, timeout=10.0, tls=server.tls) as music:
        try:
            await music.list_models()
        except AuthenticationError:
            return
        except DgxMusicError as exc:
            raise click.ClickException(
                f"cannot tell whether the gateway at {server.target} checks API keys ({exc}): start it first"
            ) from exc
    raise click.ClickException(
        f"the gateway at {server.target} lets calls in without an API key: serving MCP beyond loopback would open "
        "it to anyone; configure API keys on the gateway (`dgx-music keys new NAME`), or serve on 127.0.0.1"
    )


def ardour_bridge(address: str) -> Callable[[], Ardour]:
    """The running Ardour at OSC `address`, through the bridge (imported on first use: the MCP server runs
    without it, and only the Ardour tools need it)."""
    host, port = parse_address(address)

    def connect() -> Ardour:
        try:
            from clients.ardour.bridge import ArdourBridge
        except ImportError as exc:  # python-osc, of the daw extra
            raise DgxMusicError(grpc.StatusCode.UNAVAILABLE, f"the Ardour bridge is not installed: {exc}") from exc
        return ArdourBridge(host, port)

    return connect


def ardour_plan(held: HeldResult, parent: Path) -> Any:
    """What of a held result lands in an Ardour session (clients.ardour.plan.ImportPlan), its files written into a
    new folder under `parent`."""
    from clients.ardour import plan

    result = held.result
    if isinstance(result, ComposeResult):
        return plan.compose_plan(result, parent, title=held.title)
    if isinstance(result, TranscribeResult):
        return plan.transcribe_plan(result, parent, title=held.title)
    if isinstance(result, TrainResult):
        raise ValueError("a train job makes an adapter on the server, nothing to import: generate with it")
    if held.action == "separate":
        return plan.separate_plan(result, parent, title=held.title)
    if held.action == "render" and not result.stems:
        # A render without stems has its mix only: it lands as one audio track.
        folder = plan.new_plan_folder(parent, "generate", held.title)
        mix = result.write_stream("", folder / f"{folder.name}.wav")
        audio = [plan.AudioPart(held.title, mix)]
        return plan.ImportPlan("generate", held.title, timebase="seconds", audio=audio, folder=folder)
    return plan.generate_plan(result, parent, title=held.title)


def _connect(server: Server, timeout: float) -> Callable[[str | None], AsyncMusicClient]:
    def connect(api_key: str | None) -> AsyncMusicClient:
        return AsyncMusicClient(
            server.target, timeout=timeout, tls=server.tls, api_key=api_key if api_key is not None else server.api_key
        )

    return connect


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="results go here, a new folder per call",
)
@click.option(
    "--http",
    "http_address",
    metavar="HOST:PORT",
    help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio; beyond loopback callers must send their "
    "API key as a bearer token",
)
@click.option("--http-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="HTTPS certificate")
@click.option("--http-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="its private key")
@click.option(
    "--ardour",
    "ardour_address",
    metavar="HOST:PORT",
    default=DEFAULT_ARDOUR,
    show_default=True,
    help="Ardour's OSC surface",
)
@server_option
@click.option("--timeout", default=3600.0, show_default=True, help="deadline of each call to the stack, in seconds")
def mcp(
    out: Path,
    http_address: str | None,
    http_cert: Path | None,
    http_key: Path | None,
    ardour_address: str,
    server: Server,
    timeout: float,
) -> None:
    """Serve compose, render, transcribe, separate, generate and Ardour tools to AI assistants (MCP)."""
    if (http_cert is None) != (http_key is None):
        raise click.UsageError("--http-cert and --http-key go together")
    parse_address(ardour_address)
    host, port = parse_address(http_address) if http_address else ("", 0)
    remote = bool(http_address) and not is_loopback(host)
    config = ToolConfig(
        out_dir=out.expanduser().resolve(),
        connect=_connect(server, timeout),
        ardour=ardour_bridge(ardour_address),
        import_plan=ardour_plan,
        callers_bring_keys=remote,
    )
    config.out_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    if not http_address:
        app.run()
        return
    import uvicorn

    if remote:
        anyio.run(refuse_a_gateway_without_keys, server)
    asgi: ASGIApp = app.streamable_http_app(host=host)
    if remote:
        asgi = BearerRequired(asgi)
    scheme = "https" if http_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    print(f"dgx-music mcp: serving {scheme}://{shown}:{port}/mcp, results under {config.out_dir}", file=sys.stderr)
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(http_cert) if http_cert else None,
        ssl_keyfile=str(http_key) if http_key else None,
    )
