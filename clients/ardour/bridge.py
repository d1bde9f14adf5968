"""The OSC bridge to a running Ardour: `ArdourBridge` asks Ardour to place an ImportPlan, list its tracks and
markers, or set its tempo, and `dgx-music ardour bridge` serves the same over OSC to scripts outside Ardour.

Ardour's OSC surface can trigger an editor action but carries no data to it, so a call goes through a spool
folder: the bridge writes `request.lua` (a Lua table, data only), triggers the dgx-music bridge action with
`/access_action LuaAction/script-N`, and waits for the action's `reply.json`. One call at a time per spool folder
(a file lock), so the MCP server and the bridge command can share one Ardour."""

import contextlib
import fcntl
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import click
import grpc
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import ThreadingOSCUDPServer

from clients.ardour.install import ARDOUR_VERSIONS, MANIFEST, Installed, InstallError, ardour_dir, read_api_key
from clients.ardour.plan import ImportPlan, job_plan, lua_literal
from clients.cli import Server, server_option
from clients.errors import ArdourError, DgxMusicError, FieldViolation
from dgxmusic.network import host_port, is_loopback
from dgxmusic.v1 import jobs_pb2

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3819  # Ardour's OSC surface
BRIDGE_PORT = 3820  # `dgx-music ardour bridge`
BRIDGE_ACTION = "dgx-music bridge"  # the name dgx_music_bridge.lua gives itself
REQUEST_FILE = "request.lua"
REPLY_FILE = "reply.json"
_POLL_SECONDS = 0.01
_MAX_BAR = 100_000


def spool_folder() -> Path:
    """Where the bridge and Ardour's bridge action meet: $DGXMUSIC_ARDOUR_SPOOL, else
    $XDG_CACHE_HOME/dgx-music/ardour-bridge (~/.cache when unset): the rule dgx_music_bridge.lua follows too."""
    spool = os.environ.get("DGXMUSIC_ARDOUR_SPOOL")
    if spool:
        return Path(spool)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dgx-music" / "ardour-bridge"


def installed_bridge_slot(config_home: Path | None = None) -> int | None:
    """The action slot (script-N, from 1) `dgx-music ardour install` bound the bridge action to, by its manifest:
    the newest Ardour's that has it. None: not installed."""
    for version in sorted(ARDOUR_VERSIONS, reverse=True):
        folder = (config_home / f"ardour{version}") if config_home is not None else ardour_dir(version)
        manifest = folder / "scripts" / MANIFEST
        if manifest.exists():
            slot = Installed.load(manifest, version).slots.get(BRIDGE_ACTION)
            if slot is not None:
                return slot
    return None


def _refused(field: str, description: str) -> ArdourError:
    return ArdourError(
        grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {description}", (FieldViolation(field, description),)
    )


def _check_bar(bar: int | None) -> None:
    if bar is not None and (isinstance(bar, bool) or not isinstance(bar, int) or not 0 <= bar <= _MAX_BAR):
        raise _refused("bar", f"a bar of the session, counted from 0 (0 to {_MAX_BAR}), not {bar!r}")


class ArdourBridge:
    """A running Ardour, through its OSC surface (``host``:``port``) and the dgx-music bridge action bound to
    ``slot`` (None: where `dgx-music ardour install` bound it). Each call waits at most ``timeout`` seconds for
    Ardour's answer, then raises ArdourError."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        spool: Path | None = None,
        timeout: float = 30.0,
        slot: int | None = None,
    ) -> None:
        self.address = (host, port)
        self.spool = spool if spool is not None else spool_folder()
        self.timeout = timeout
        self.slot = slot
        self._socket: socket.socket | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def place(self, plan: ImportPlan, *, bar: int | None = None) -> dict[str, Any]:
        """Puts `plan` into the session at bar `bar` (counted from 0) or, for None, at the playhead. Answers what
        Ardour made: position (samples) and bar, tracks (name, kind), markers (name, position, bar)."""
        _check_bar(bar)
        if plan.folder is None:
            raise _refused("plan", "a plan with a folder of its files (the plan builders make one)")
        path = plan.write_lua().resolve()
        return self.call("place", plan=str(path), bar=bar)

    def tracks(self) -> list[dict[str, Any]]:
        """The session's tracks: name, kind (midi or audio) and regions (name, position, length in samples, bar)."""
        tracks: list[dict[str, Any]] = self.call("tracks")["tracks"]
        return tracks

    def markers(self) -> list[dict[str, Any]]:
        """The session's markers and ranges (not its session range, loop or punch range): name, position
        (samples), bar, and for a range its end."""
        markers: list[dict[str, Any]] = self.call("markers")["markers"]
        return markers

    def set_tempo(self, bpm: float, *, bar: int = 0) -> None:
        """The session's tempo from bar `bar` (counted from 0) on."""
        if isinstance(bpm, bool) or not isinstance(bpm, int | float) or not 1 <= bpm <= 1000:
            raise _refused("bpm", f"beats per minute, from 1 to 1000, not {bpm!r}")
        _check_bar(bar)
        self.call("set_tempo", bpm=float(bpm), bar=bar)

    def ping(self) -> dict[str, Any]:
        """The session's name, sample rate and playhead (samples): Ardour is there, its OSC surface on, the bridge
        action bound."""
        return self.call("ping")

    def save(self) -> str:
        """Saves the session (as Ardour's Save does); answers its folder."""
        saved: str = self.call("save")["saved"]
        return saved

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """One request to the bridge action and its answer."""
        request_id = secrets.token_hex(8)
        request = {"id": request_id, "op": op} | {key: value for key, value in fields.items() if value is not None}
        with self._spool_lock():
            reply_path = self.spool / REPLY_FILE
            reply_path.unlink(missing_ok=True)
            _write_atomically(self.spool / REQUEST_FILE, "return " + lua_literal(request) + "\n")
            self._trigger()
            reply = self._wait_for(reply_path, request_id)
        if not reply.get("ok"):
            raise ArdourError(grpc.StatusCode.FAILED_PRECONDITION, f"Ardour refused {op}: {reply.get('error')}")
        result: dict[str, Any] = reply.get("result") or {}
        return result

    @contextlib.contextmanager
    def _spool_lock(self) -> Iterator[None]:
        self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.spool / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _trigger(self) -> None:
        """/access_action LuaAction/script-N, from one socket connected to Ardour's surface: Ardour keeps a surface
        per sender, and a refused datagram (nothing listening) comes back as an error on that socket."""
        if self._socket is None:
            family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
            self._socket = socket.socket(family, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
            try:
                self._socket.connect(self.address)
            except OSError as exc:
                raise self._no_answer(f"cannot reach {self._where()}: {exc}") from exc
        if self.slot is None:
            self.slot = installed_bridge_slot()
            if self.slot is None:
                raise ArdourError(
                    grpc.StatusCode.UNAVAILABLE,
                    "the dgx-music actions are not installed for Ardour: run `dgx-music ardour install`, then "
                    "restart Ardour",
                )
        builder = OscMessageBuilder("/access_action")
        builder.add_arg(f"LuaAction/script-{self.slot}")
        try:
            self._socket.send(builder.build().dgram)
        except OSError as exc:
            raise self._no_answer(f"nothing listens at {self._where()} ({exc})") from exc

    def _wait_for(self, reply_path: Path, request_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self._check_refused()
            with contextlib.suppress(FileNotFoundError):
                reply: dict[str, Any] = json.loads(reply_path.read_bytes().decode("utf-8", "replace"))
                reply_path.unlink(missing_ok=True)
                if reply.get("id") == request_id:
                    return reply
            time.sleep(_POLL_SECONDS)
        # Not taken: take it back, so that an Ardour waking up later does not do what was given up on.
        (self.spool / REQUEST_FILE).unlink(missing_ok=True)
        raise self._no_answer(f"Ardour did not answer within {self.timeout:g} s")

    def _check_refused(self) -> None:
        """Datagrams Ardour sends back are dropped; a refusal (ICMP port unreachable) means no Ardour there."""
        if self._socket is None:
            return
        try:
            while self._socket.recv(65536):
                pass
        except BlockingIOError:
            return
        except OSError as exc:
            (self.spool / REQUEST_FILE).unlink(missing_ok=True)
            raise self._no_answer(f"nothing listens at {self._where()} ({exc})") from exc

    def _where(self) -> str:
        return f"osc.udp://{self.address[0]}:{self.address[1]}"

    def _no_answer(self, what: str) -> ArdourError:
        return ArdourError(
            grpc.StatusCode.UNAVAILABLE,
            f"{what}: is Ardour running with its OSC surface on ({self._where()}, Edit > Preferences > Control "
            f"Surfaces > Open Sound Control) and the dgx-music actions installed (`dgx-music ardour install`, "
            f"the bridge on action button {self.slot})?",
        )


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="ascii")
    temporary.replace(path)


# The bridge command ---------------------------------------------------------------------------------------------------


class BridgeServer:
    """The OSC server of `dgx-music ardour bridge`: each message is answered to its sender, on the same socket,
    with `/dgx_music/reply <address> <JSON>` or `/dgx_music/error <address> <message>`."""

    def __init__(self, server: Server, ardour: ArdourBridge, out: Path, timeout: float) -> None:
        self.server = server
        self.ardour = ardour
        self.out = out
        self.timeout = timeout
        self.dispatcher = Dispatcher()
        self.dispatcher.map("/dgx_music/import", self._answer(self.import_job), needs_reply_address=True)
        self.dispatcher.map("/dgx_music/tracks", self._answer(self.tracks), needs_reply_address=True)
        self.dispatcher.map("/dgx_music/markers", self._answer(self.markers), needs_reply_address=True)
        self.dispatcher.map("/dgx_music/tempo", self._answer(self.tempo), needs_reply_address=True)
        self.dispatcher.map("/dgx_music/ping", self._answer(self.ping), needs_reply_address=True)
        self.dispatcher.set_default_handler(self._unknown, needs_reply_address=True)
        self._osc: ThreadingOSCUDPServer | None = None
        self._lock = threading.Lock()

    def serve(self, host: str, port: int) -> None:
        self._osc = ThreadingOSCUDPServer((host, port), self.dispatcher)
        try:
            self._osc.serve_forever()
        finally:
            self._osc.server_close()

    def shutdown(self) -> None:
        if self._osc is not None:
            self._osc.shutdown()

    def import_job(self, job_id: Any = None, bar: Any = None, *extra: Any) -> dict[str, Any]:
        """`/dgx_music/import <job_id> [bar]`: a finished job's result (waited for, if it still runs) placed at
        the bar (counted from 0) or at the playhead."""
        if not isinstance(job_id, str) or not job_id.strip() or extra:
            raise _refused("job_id", "send /dgx_music/import <job_id> [bar]")
        if bar is not None and (isinstance(bar, bool) or not isinstance(bar, int)):
            raise _refused("bar", f"a whole bar number, not {bar!r}")
        _check_bar(bar)
        with self.server.client(self.timeout) as client:
            outcome = client.watch_job(job_id.strip())
        if not outcome.succeeded or outcome.result is None:
            state = jobs_pb2.JobState.Name(outcome.job.state).removeprefix("JOB_STATE_")
            detail = f": {outcome.job.error_message}" if outcome.job.error_message else ""
            raise ArdourError(grpc.StatusCode.FAILED_PRECONDITION, f"job {job_id} ended {state}{detail}")
        plan = job_plan(outcome.job, outcome.result, self.out)
        return {"job_id": job_id, "placed": self._ardour(lambda: self.ardour.place(plan, bar=bar))}

    def tracks(self) -> dict[str, Any]:
        return {"tracks": self._ardour(self.ardour.tracks)}

    def markers(self) -> dict[str, Any]:
        return {"markers": self._ardour(self.ardour.markers)}

    def tempo(self, bpm: Any = None, bar: Any = 0, *extra: Any) -> dict[str, Any]:
        """`/dgx_music/tempo <bpm> [bar]`."""
        if not isinstance(bpm, int | float) or extra:
            raise _refused("bpm", "send /dgx_music/tempo <bpm> [bar]")
        self._ardour(lambda: self.ardour.set_tempo(float(bpm), bar=bar))
        return {"bpm": float(bpm), "bar": bar}

    def ping(self) -> dict[str, Any]:
        session: dict[str, Any] = self._ardour(self.ardour.ping)
        return session

    def _ardour(self, call: Any) -> Any:
        """One ArdourBridge call at a time: it keeps one socket to Ardour."""
        with self._lock:
            return call()

    def _answer(self, handler: Any) -> Any:
        def answer(client: tuple[str, int], address: str, *args: Any) -> None:
            try:
                self._send(client, "/dgx_music/reply", address, json.dumps(handler(*args)))
            except DgxMusicError as exc:
                self._send(client, "/dgx_music/error", address, str(exc))
            except Exception as exc:  # the sender hears of any failure; the server goes on
                self._send(client, "/dgx_music/error", address, f"{type(exc).__name__}: {exc}")

        return answer

    def _unknown(self, client: tuple[str, int], address: str, *args: Any) -> None:
        known = "/dgx_music/import, /dgx_music/tracks, /dgx_music/markers, /dgx_music/tempo, /dgx_music/ping"
        self._send(client, "/dgx_music/error", address, f"no such address (known: {known})")

    def _send(self, client: tuple[str, int], address: str, *args: str) -> None:
        builder = OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        if self._osc is not None:
            self._osc.socket.sendto(builder.build().dgram, client)


def _host_port(value: str, what: str) -> tuple[str, int]:
    try:
        return host_port(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from exc


@click.command()
@click.option(
    "--listen",
    default=f"{DEFAULT_HOST}:{BRIDGE_PORT}",
    show_default=True,
    metavar="HOST:PORT",
    help="where the bridge takes OSC messages",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="listen beyond this machine: OSC has no authentication, so anyone who reaches the port can import",
)
@click.option(
    "--ardour",
    "ardour_address",
    default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    metavar="HOST:PORT",
    help="Ardour's OSC surface",
)
@click.option(
    "--slot", type=int, help="the action slot (from 1) of the bridge action [default: where `install` bound it]"
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: spool_folder() / "imports",
    show_default="<spool>/imports",
    help="where the imported results' files are written (Ardour reads them from there)",
)
@click.option("--ardour-timeout", default=60.0, show_default=True, help="seconds to wait for Ardour's answer")
@server_option
@click.option("--timeout", default=3600.0, show_default=True, help="deadline of each call to the stack, in seconds")
def bridge(
    listen: str,
    allow_remote: bool,
    ardour_address: str,
    slot: int | None,
    out: Path,
    ardour_timeout: float,
    server: Server,
    timeout: float,
) -> None:
    """Serve OSC for scripts outside Ardour: /dgx_music/import <job_id> [bar] puts a finished job's result into the
    running Ardour session (at the bar, from 0, or the playhead); /dgx_music/tracks, /dgx_music/markers,
    /dgx_music/tempo <bpm> [bar], /dgx_music/ping. Each is answered to its sender: /dgx_music/reply <address>
    <JSON> or /dgx_music/error <address> <message>."""
    host, port = _host_port(listen, "--listen")
    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(
            f"--listen {listen} reaches beyond this machine, and OSC has no authentication: anyone who reaches it "
            "could import into your session; add --allow-remote if you mean it"
        )
    ardour_host, ardour_port = _host_port(ardour_address, "--ardour")
    out.mkdir(parents=True, exist_ok=True)
    # The key as `dgx-music ardour run` finds it: $DGXMUSIC_API_KEY, else the file `install --save-api-key` wrote.
    try:
        server = Server(server.target, server.tls, server.api_key or read_api_key())
    except InstallError as exc:
        raise click.ClickException(str(exc)) from exc
    ardour = ArdourBridge(ardour_host, ardour_port, timeout=ardour_timeout, slot=slot)
    click.echo(f"dgx-music bridge on osc.udp://{listen} -> Ardour at osc.udp://{ardour_address}", err=True)
    try:
        BridgeServer(server, ardour, out, timeout).serve(host, port)
    except KeyboardInterrupt:
        pass
    finally:
        ardour.close()
