"""The MCP server against the real stack: in process through the SDK's client, then as an assistant runs it, `dgx-music
mcp` as a subprocess over stdio and over streamable HTTP; and it refuses to serve beyond loopback in front of a
gateway that checks no API key."""

import asyncio
import json
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx2
import mido
import pytest
import soundfile
import trustme
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from clients.client import AsyncMusicClient
from clients.errors import DgxMusicError
from clients.mcp.tools import Ardour, ToolConfig, create_app
from conftest import PROJECT_ROOT
from deploy.launcher import Stack, free_ports
from gateway.auth import key_hash, new_key
from waiting import wait_until

PROMPT = "house 124 BPM, A minor"
BARS = 2
SONG_SECONDS = BARS * 4 * 60 / 124


def no_ardour() -> Ardour:
    raise DgxMusicError(grpc.StatusCode.UNAVAILABLE, "no Ardour in this test")


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


def check_song(song: dict[str, Any], out: Path) -> None:
    """The files a compose answered are there under `out`, and say what its metadata says."""
    assert Path(song["folder"]).parent == out.resolve()
    midi = mido.MidiFile(song["midi"])
    named = sorted(t.name for t in midi.tracks if any(m.type == "note_on" for m in t))
    assert sorted(track["name"] for track in song["song"]["tracks"]) == named
    assert sorted(song["stems"]) == named
    mix = soundfile.info(song["mix"])
    # The render rings on past the last bar (its release and reverb tail, at most 10 s).
    assert (mix.samplerate, mix.channels) == (44100, 2)
    assert SONG_SECONDS <= mix.duration <= SONG_SECONDS + 10
    for path in song["stems"].values():
        assert soundfile.info(path).frames == mix.frames
    assert (song["song"]["bpm"], song["song"]["key"], song["song"]["bars"]) == (124, "A minor", BARS)
    assert song["song"]["duration_seconds"] == pytest.approx(SONG_SECONDS, abs=1e-3)
    assert song["song"]["title"] == PROMPT


async def test_compose_in_process_against_the_real_gateway(stack: Stack, tmp_path: Path) -> None:
    config = ToolConfig(
        out_dir=tmp_path,
        connect=lambda key: AsyncMusicClient(stack.gateway_target, timeout=120, api_key=key),
        ardour=no_ardour,
        import_plan=lambda held, folder: None,
    )
    reported: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append(progress)

    async with Client(create_app(config)) as client:
        done = await client.call_tool("compose", {"prompt": PROMPT, "bars": BARS}, progress_callback=on_progress)
        refused = await client.call_tool("compose", {"prompt": PROMPT, "key": "H major"})
        models = await client.call_tool("list_models", {})
    check_song(structured(done), tmp_path)
    assert reported, "the stack's progress arrived as MCP progress"
    assert reported == sorted(reported)
    assert refused.is_error
    assert refused.structured_content is not None
    assert refused.structured_content["code"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in refused.structured_content["violations"]] == ["options.key"]
    states = {model["name"]: model["state"] for model in structured(models)["models"]}
    assert states["text2midi"] == "ready"


def mcp_argv(stack: Stack, out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "clients.cli", "mcp", "--server", stack.gateway_target, "--out", str(out), *args]


async def test_an_assistant_finds_a_song_in_the_library_and_fetches_its_files(stack: Stack, tmp_path: Path) -> None:
    config = ToolConfig(
        out_dir=tmp_path,
        connect=lambda key: AsyncMusicClient(stack.gateway_target, timeout=120, api_key=key),
        ardour=no_ardour,
        import_plan=lambda held, folder: None,
    )
    async with Client(create_app(config)) as client:
        structured(await client.call_tool("compose", {"prompt": "reggae 80, D major", "bars": 1, "stems": False}))

        for _ in range(150):  # the library keeps it in the background
            found = structured(await client.call_tool("library_search", {"query": "reggae"}))["items"]
            if songs := [item for item in found if item["prompt"] == "reggae 80, D major"]:
                break
            await asyncio.sleep(0.2)
        song = songs[0]
        fetched = structured(await client.call_tool("library_get", {"item_id": song["id"]}))
    assert sorted(Path(path).name for path in fetched["files"]) == ["mix.wav", "song.mid"]
    assert mido.MidiFile(Path(fetched["folder"]) / "song.mid").length > 0


async def test_an_assistant_composes_over_stdio(stack: Stack, tmp_path: Path) -> None:
    argv = mcp_argv(stack, tmp_path / "out")
    server = StdioServerParameters(command=argv[0], args=argv[1:], cwd=PROJECT_ROOT)
    # The SDK's stdio client starts the server and ends it when the client closes.
    async with Client(server) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        done = await client.call_tool("compose", {"prompt": PROMPT, "bars": BARS})
    assert {"compose", "generate_midi", "transcribe", "separate", "ardour_import"} <= tools
    check_song(structured(done), tmp_path / "out")


@contextmanager
def serving_mcp(argv: list[str], port: int, log_path: Path) -> Iterator[None]:
    """`dgx-music mcp --http ...` running until the block ends; always ended, never left behind."""
    with log_path.open("w") as log:
        process = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: accepts(port) or process.poll() is not None, "the MCP server listening", timeout_s=60)
        assert process.poll() is None, log_path.read_text()
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def http_server(stack: Stack, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`dgx-music mcp --http 127.0.0.1:<free port>` running; its URL and output folder."""
    port = free_ports(1)[0]
    out = tmp_path / "out"
    with serving_mcp(mcp_argv(stack, out, "--http", f"127.0.0.1:{port}"), port, tmp_path / "mcp.log"):
        yield f"http://127.0.0.1:{port}/mcp", out


def accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_an_assistant_composes_over_streamable_http(http_server: tuple[str, Path]) -> None:
    url, out = http_server
    reported: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append(message)

    async with Client(url) as client:
        done = await client.call_tool("compose", {"prompt": PROMPT, "bars": BARS}, progress_callback=on_progress)
        missing = await client.call_tool("transcribe", {"audio_path": str(out / "no such take.wav")})
    check_song(structured(done), out)
    assert reported, "progress arrived over HTTP"
    assert missing.is_error
    assert missing.structured_content is not None
    assert missing.structured_content["code"] == "NOT_FOUND"


def test_beyond_loopback_it_refuses_a_gateway_that_checks_no_key(stack: Stack, tmp_path: Path) -> None:
    port = free_ports(1)[0]
    argv = mcp_argv(stack, tmp_path / "out", "--http", f"0.0.0.0:{port}")
    done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "lets calls in without an API key" in done.stderr
    assert "Traceback" not in done.stderr
    assert not accepts(port)


KEY = new_key()


@pytest.fixture
def keyed_gateway(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """A gateway of its own on the stack's Triton and Redis that wants API keys (one: KEY); its target."""
    (port,) = free_ports(1)
    env = stack.gateway_environment(
        grpc_port=str(port),
        metrics_port="0",
        api_keys=json.dumps({"assistant": {"hash": key_hash(KEY), "requests_per_minute": 600}}),
    )
    with (tmp_path / "gateway.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=log)
    target = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or accepts(port), "the keyed gateway listening", timeout_s=120)
        assert process.poll() is None, (tmp_path / "gateway.log").read_text()
        yield target
    finally:
        process.terminate()
        process.wait(timeout=30)


def with_key(url: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=120))


async def test_beyond_loopback_each_caller_brings_a_key_the_gateway_checks(
    stack: Stack, keyed_gateway: str, tmp_path: Path
) -> None:
    port = free_ports(1)[0]
    argv = [*mcp_argv(stack, tmp_path / "out", "--http", f"0.0.0.0:{port}")]
    argv[argv.index(stack.gateway_target)] = keyed_gateway
    log = tmp_path / "mcp.log"
    url = f"http://127.0.0.1:{port}/mcp"
    with serving_mcp(argv, port, log):
        async with httpx2.AsyncClient() as http:
            anonymous = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        async with Client(with_key(url, "dgxm_not-a-key")) as stranger:
            refused = await stranger.call_tool("list_models", {})
        async with Client(with_key(url, KEY)) as assistant:
            done = await assistant.call_tool("compose", {"prompt": PROMPT, "bars": BARS})
            elsewhere = await assistant.call_tool("render", {"midi_path": str(tmp_path / "outside.mid")})
    assert anonymous.status_code == 401
    assert refused.is_error
    assert refused.structured_content is not None
    assert refused.structured_content["code"] == "UNAUTHENTICATED"
    check_song(structured(done), tmp_path / "out")
    assert elsewhere.structured_content is not None
    assert elsewhere.structured_content["code"] == "PERMISSION_DENIED"
    assert KEY not in log.read_text()
    assert KEY not in (tmp_path / "gateway.log").read_text()


async def test_https_with_a_certificate_of_its_own(stack: Stack, tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "mcp.pem", tmp_path / "mcp.key"
    issued.private_key_pem.write_to_path(str(key))
    for blob in issued.cert_chain_pems:
        blob.write_to_path(str(cert), append=True)
    port = free_ports(1)[0]
    argv = mcp_argv(
        stack, tmp_path / "out", "--http", f"127.0.0.1:{port}", "--http-cert", str(cert), "--http-key", str(key)
    )
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    with serving_mcp(argv, port, tmp_path / "mcp.log"):
        http = httpx2.AsyncClient(verify=trusting, timeout=60)
        async with Client(streamable_http_client(f"https://127.0.0.1:{port}/mcp", http_client=http)) as client:
            models = await client.call_tool("list_models", {})
    assert "serving https://127.0.0.1" in (tmp_path / "mcp.log").read_text()
    assert {model["name"] for model in structured(models)["models"]} >= {"text2midi", "fluidsynth"}
