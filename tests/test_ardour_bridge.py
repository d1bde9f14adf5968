"""The bridge's own mechanics, without Ardour: the spool protocol against a stand-in that answers as the bridge
action does, what it refuses before asking Ardour, an Ardour that is not there, and the bridge command's OSC
server. Ardour's real GUI answers in test_ardour_bridge_gui.py."""

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from clients.ardour.bridge import (
    REPLY_FILE,
    REQUEST_FILE,
    ArdourBridge,
    BridgeServer,
    bridge,
    installed_bridge_slot,
)
from clients.ardour.install import install
from clients.ardour.plan import ImportPlan, Marker
from clients.cli import Server
from clients.errors import ArdourError


class StandInArdour:
    """A UDP socket that, for each /access_action it receives, answers the spooled request with `answer(request)`
    as the bridge action would (reply.json, through a rename); records what it was asked."""

    def __init__(self, spool: Path, answer: Any) -> None:
        self.spool = spool
        self.answer = answer
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port: int = self.socket.getsockname()[1]
        self.actions: list[str] = []
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                continue
            message = OscMessage(data)
            self.actions.append(f"{message.address} {' '.join(map(str, message.params))}")
            request = self.spool / REQUEST_FILE
            if not request.exists():
                continue
            text = request.read_text()
            request.unlink()
            self.requests.append(text)
            reply = self.answer(text)
            if reply is not None:
                temporary = self.spool / "reply.json.tmp"
                temporary.write_text(json.dumps(reply))
                temporary.replace(self.spool / REPLY_FILE)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


def request_id(text: str) -> str:
    match = re.search(r'id = "([0-9a-f]+)"', text)
    assert match, text
    return match[1]


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def tracks_ardour(spool: Path) -> Iterator[StandInArdour]:
    def answer(text: str) -> dict[str, Any]:
        return {"id": request_id(text), "ok": True, "result": {"tracks": [{"name": "Lead", "kind": "midi"}]}}

    ardour = StandInArdour(spool, answer)
    yield ardour
    ardour.close()


def test_a_call_spools_a_data_only_request_triggers_the_bridge_action_and_reads_its_reply(
    spool: Path, tracks_ardour: StandInArdour
) -> None:
    with ArdourBridge("127.0.0.1", tracks_ardour.port, spool=spool, timeout=5, slot=7) as ardour:
        assert ardour.tracks() == [{"name": "Lead", "kind": "midi"}]
    assert tracks_ardour.actions == ["/access_action LuaAction/script-7"]
    assert tracks_ardour.requests[0].startswith('return {id = "')
    assert 'op = "tracks"' in tracks_ardour.requests[0]
    assert not (spool / REPLY_FILE).exists()
    assert spool.stat().st_mode & 0o777 == 0o700


def test_a_placed_plan_is_written_as_lua_beside_its_files_and_named_by_its_absolute_path(
    tmp_path: Path, spool: Path
) -> None:
    def answer(text: str) -> dict[str, Any]:
        return {"id": request_id(text), "ok": True, "result": {"position": 0, "bar": 3}}

    folder = tmp_path / "plan-1"
    folder.mkdir()
    plan = ImportPlan("compose", 'a "quoted" song', bpm=120.0, markers=[Marker("intro", 0)], folder=folder)
    ardour_stand_in = StandInArdour(spool, answer)
    try:
        with ArdourBridge("127.0.0.1", ardour_stand_in.port, spool=spool, timeout=5, slot=1) as ardour:
            assert ardour.place(plan, bar=3) == {"position": 0, "bar": 3}
    finally:
        ardour_stand_in.close()
    request = ardour_stand_in.requests[0]
    assert f'plan = "{(folder / "plan.lua").resolve()}"' in request
    assert "bar = 3" in request
    assert (folder / "plan.lua").read_text().startswith("return {")
    assert "\\034quoted\\034" in (folder / "plan.lua").read_text()


def test_a_refusal_from_ardour_is_an_ardour_error_with_its_reason(spool: Path) -> None:
    def answer(text: str) -> dict[str, Any]:
        return {"id": request_id(text), "ok": False, "error": "dgx-music: plan.audio[1].path: no file /x.wav"}

    stand_in = StandInArdour(spool, answer)
    try:
        with (
            ArdourBridge("127.0.0.1", stand_in.port, spool=spool, timeout=5, slot=1) as ardour,
            pytest.raises(ArdourError) as e,
        ):
            ardour.markers()
    finally:
        stand_in.close()
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "plan.audio[1].path: no file /x.wav" in e.value.message


def test_an_ardour_that_never_answers_is_unavailable_and_its_request_is_taken_back(spool: Path) -> None:
    stand_in = StandInArdour(spool, lambda text: None)
    started = time.monotonic()
    try:
        with (
            ArdourBridge("127.0.0.1", stand_in.port, spool=spool, timeout=0.5, slot=1) as ardour,
            pytest.raises(ArdourError) as e,
        ):
            ardour.ping()
    finally:
        stand_in.close()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert "did not answer within 0.5 s" in e.value.message
    assert "dgx-music ardour install" in e.value.message
    assert time.monotonic() - started < 3
    assert not (spool / REQUEST_FILE).exists()


def test_nothing_listening_at_the_osc_port_is_unavailable_at_once(spool: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with ArdourBridge("127.0.0.1", port, spool=spool, timeout=20, slot=1) as ardour, pytest.raises(ArdourError) as e:
        ardour.tracks()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert f"nothing listens at osc.udp://127.0.0.1:{port}" in e.value.message
    assert time.monotonic() - started < 5
    assert not (spool / REQUEST_FILE).exists()


def test_the_bridge_finds_its_action_slot_where_the_install_bound_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spool: Path, tracks_ardour: StandInArdour
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert installed_bridge_slot() is None
    with (
        ArdourBridge("127.0.0.1", tracks_ardour.port, spool=spool, timeout=5) as ardour,
        pytest.raises(ArdourError) as e,
    ):
        ardour.tracks()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert "dgx-music ardour install" in e.value.message

    install(7, ["dgx-music"], "127.0.0.1:50051")
    slot = installed_bridge_slot()
    assert slot is not None
    with ArdourBridge("127.0.0.1", tracks_ardour.port, spool=spool, timeout=5) as ardour:
        ardour.tracks()
    assert tracks_ardour.actions == [f"/access_action LuaAction/script-{slot}"]


@pytest.mark.parametrize("bar", [-1, 1.5, True, 100_001])
def test_a_bar_that_is_no_bar_of_the_session_is_refused_naming_it_before_ardour_is_asked(
    tmp_path: Path, spool: Path, bar: Any
) -> None:
    plan = ImportPlan("compose", "song", folder=tmp_path)
    with ArdourBridge("127.0.0.1", 9, spool=spool) as ardour, pytest.raises(ArdourError) as e:
        ardour.place(plan, bar=bar)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [violation.field for violation in e.value.violations] == ["bar"]
    assert not spool.exists()


@pytest.mark.parametrize("bpm", [0, 1001, float("nan"), "120"])
def test_a_tempo_out_of_range_is_refused_naming_bpm(spool: Path, bpm: Any) -> None:
    with ArdourBridge("127.0.0.1", 9, spool=spool) as ardour, pytest.raises(ArdourError) as e:
        ardour.set_tempo(bpm)
    assert [violation.field for violation in e.value.violations] == ["bpm"]


def test_calls_from_two_bridges_on_one_spool_take_turns(spool: Path) -> None:
    def answer(text: str) -> dict[str, Any]:
        time.sleep(0.05)
        return {"id": request_id(text), "ok": True, "result": {"markers": []}}

    stand_in = StandInArdour(spool, answer)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            with ArdourBridge("127.0.0.1", stand_in.port, spool=spool, timeout=10, slot=1) as ardour:
                for _ in range(5):
                    assert ardour.markers() == []
        except BaseException as exc:  # the thread's failure is the test's
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stand_in.close()
    assert errors == []
    assert len(stand_in.requests) == 15


def test_the_bridge_command_refuses_to_listen_beyond_loopback_unless_told() -> None:
    result = CliRunner().invoke(bridge, ["--listen", "0.0.0.0:3820"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output


class RecordingArdour(ArdourBridge):
    """ArdourBridge's calls answered here, for the bridge server's own logic."""

    def __init__(self) -> None:
        super().__init__(spool=Path("/nonexistent"))
        self.tempos: list[tuple[float, int]] = []

    def tracks(self) -> list[dict[str, Any]]:
        return [{"name": "Lead", "kind": "midi", "regions": []}]

    def set_tempo(self, bpm: float, *, bar: int = 0) -> None:
        self.tempos.append((bpm, bar))


@pytest.fixture
def bridge_server(tmp_path: Path) -> Iterator[tuple[BridgeServer, int]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = BridgeServer(Server("127.0.0.1:9"), RecordingArdour(), tmp_path, timeout=5)
    thread = threading.Thread(target=server.serve, args=("127.0.0.1", port), daemon=True)
    thread.start()
    time.sleep(0.2)
    yield server, port
    server.shutdown()
    thread.join()


def ask(port: int, address: str, *args: Any) -> OscMessage:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.settimeout(10)
        sender.sendto(builder.build().dgram, ("127.0.0.1", port))
        return OscMessage(sender.recv(65536))


def test_the_bridge_server_answers_each_sender_with_a_reply_or_an_error(
    bridge_server: tuple[BridgeServer, int],
) -> None:
    server, port = bridge_server
    reply = ask(port, "/dgx_music/tracks")
    assert reply.address == "/dgx_music/reply"
    assert reply.params[0] == "/dgx_music/tracks"
    assert json.loads(reply.params[1]) == {"tracks": [{"name": "Lead", "kind": "midi", "regions": []}]}

    reply = ask(port, "/dgx_music/tempo", 96.0, 8)
    assert json.loads(reply.params[1]) == {"bpm": 96.0, "bar": 8}
    assert server.ardour.tempos == [(96.0, 8)]  # type: ignore[attr-defined]

    reply = ask(port, "/dgx_music/import", "job-1", 2.5)
    assert reply.address == "/dgx_music/error"
    assert reply.params == ["/dgx_music/import", "INVALID_ARGUMENT: bar: a whole bar number, not 2.5"]

    reply = ask(port, "/dgx_music/import")
    assert reply.params == ["/dgx_music/import", "INVALID_ARGUMENT: job_id: send /dgx_music/import <job_id> [bar]"]

    reply = ask(port, "/dgx_music/nonsense")
    assert reply.address == "/dgx_music/error"
    assert "no such address" in reply.params[1]


def test_an_import_of_a_job_the_stack_cannot_be_reached_for_is_answered_with_the_error(
    bridge_server: tuple[BridgeServer, int],
) -> None:
    _, port = bridge_server
    reply = ask(port, "/dgx_music/import", "0123456789abcdef", 1)
    assert reply.address == "/dgx_music/error"
    assert reply.params[0] == "/dgx_music/import"
    assert reply.params[1].startswith("UNAVAILABLE: ")
