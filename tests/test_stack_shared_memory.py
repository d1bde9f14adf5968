"""Renders and Basic Pitch's outputs come from Triton through system shared memory when Triton is on the same host
(the stack's own gateway: DGXMUSIC_TRITON_SHARED_MEMORY=auto on loopback), bit-exact with the gRPC path (the same
transcribed notes); a result larger than the pool goes over gRPC; a gateway removes its regions when it stops, and the
next gateway removes those of one that was killed."""

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from tritonclient.utils import InferenceServerException

from clients.client import ComposeResult, MusicClient, compose_request, song_options
from deploy import triton
from deploy.launcher import Stack, free_ports, gateway_serving
from dgxmusic.v1 import music_service_pb2 as pb
from gateway import shared_memory
from waiting import is_gone, wait_until

pytestmark = pytest.mark.stack

PROMPT = "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor"
MIB = 1024 * 1024


@contextmanager
def gateway(stack: Stack, log: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A gateway of its own on the stack's Triton and Redis, with `settings` (DGXMUSIC_<NAME> values): its process
    and target. Stopped (SIGTERM) at the end unless the test ended it."""
    (port,) = free_ports(1)
    env = stack.gateway_environment(grpc_port=str(port), metrics_port="0", **settings)
    with log.open("ab") as output:
        process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stdout=output, stderr=output)
    try:
        wait_until(
            lambda: process.poll() is not None or gateway_serving(f"127.0.0.1:{port}"),
            "the gateway serving",
            timeout_s=120,
        )
        assert process.poll() is None, log.read_text()
        yield process, f"127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def compose(target: str, *, seconds: float = 8, stems: bool = True) -> ComposeResult:
    request = compose_request(PROMPT, options=song_options(seconds=seconds, seed=5), stems=stems, bypass_cache=True)
    with MusicClient(target, timeout=120) as client:
        return client.compose(request)


def registered(stack: Stack) -> set[str]:
    """The shared memory regions Triton knows."""
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{stack.settings.triton_grpc_port}")
    status = client.get_system_shared_memory_status(headers=triton.grpc_key_headers(stack.settings), as_json=True)
    return set(status.get("regions", {}))


def of(pid: int, names: set[str]) -> set[str]:
    return {name for name in names if name.startswith(f"{shared_memory.PREFIX}{pid}_")}


def files_of(pid: int) -> set[str]:
    return {path.name for path in shared_memory.SHM_DIR.glob(f"{shared_memory.PREFIX}{pid}_*")}


def assert_same_audio(ours: ComposeResult, theirs: ComposeResult) -> None:
    assert ours.midi == theirs.midi
    assert np.array_equal(ours.mix, theirs.mix)
    assert list(ours.stems) == list(theirs.stems)
    for name, stem in ours.stems.items():
        assert np.array_equal(stem, theirs.stems[name]), name


@dataclass(frozen=True)
class OverGrpc:
    """The song as a gateway with shared memory off composes it: with stems, and its mix alone (rendered without
    stems, tracks share synthesizers: close to the stems' sum, not equal)."""

    song: ComposeResult
    mix_alone: ComposeResult
    transcription: pb.Transcription  # of the song's mix


def transcribe(target: str, song: ComposeResult) -> pb.Transcription:
    with MusicClient(target, timeout=120) as client:
        return client.transcribe((song.mix, song.sample_rate)).transcription


@pytest.fixture(scope="module")
def over_grpc(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OverGrpc]:
    log = tmp_path_factory.mktemp("grpc-gateway") / "gateway.log"
    with gateway(stack, log, triton_shared_memory="off") as (process, target):
        song = compose(target)
        yield OverGrpc(song, compose(target, stems=False), transcribe(target, song))
        assert not of(process.pid, registered(stack))


def test_renders_come_through_shared_memory_bit_exact_with_grpc(stack: Stack, over_grpc: OverGrpc) -> None:
    [main] = [child.process.pid for child in stack.children if child.name == "gateway"]
    through_memory = compose(stack.gateway_target)
    assert_same_audio(through_memory, over_grpc.song)
    assert len(through_memory.stems) >= 3
    regions = of(main, registered(stack))
    assert regions, "the stack's gateway registered no region with Triton"
    assert regions <= files_of(main)
    for name in regions:
        assert (shared_memory.SHM_DIR / name).stat().st_mode & 0o777 == 0o600


def test_transcriptions_through_shared_memory_have_the_notes_of_grpc(stack: Stack, over_grpc: OverGrpc) -> None:
    through_memory = transcribe(stack.gateway_target, over_grpc.song)
    assert len(through_memory.notes) > 10
    assert through_memory == over_grpc.transcription
    # Triton wrote the outputs into the region: none outgrew its place there and went over gRPC after all.
    log = (stack.log_dir / "gateway.log").read_text().splitlines()
    assert not [line for line in log if "shared_memory_missed" in line and "basic_pitch" in line]


def test_a_result_larger_than_the_pool_goes_over_grpc_and_regions_go_when_the_gateway_stops(
    stack: Stack, over_grpc: OverGrpc, tmp_path: Path
) -> None:
    # 16 MiB holds this song's mix (~2.3 MB with its tail), not the mix and its stems together.
    with gateway(stack, tmp_path / "gateway.log", triton_shared_memory_bytes=str(16 * MIB)) as (process, target):
        assert_same_audio(compose(target), over_grpc.song)
        assert not of(process.pid, registered(stack))
        assert_same_audio(compose(target, stems=False), over_grpc.mix_alone)
        assert of(process.pid, registered(stack))
        process.terminate()
        process.wait(timeout=30)
    assert not of(process.pid, registered(stack))
    assert not files_of(process.pid)


def test_the_next_gateway_removes_the_regions_of_one_that_was_killed(
    stack: Stack, over_grpc: OverGrpc, tmp_path: Path
) -> None:
    with gateway(stack, tmp_path / "killed.log") as (killed, target):
        compose(target, stems=False)
        assert of(killed.pid, registered(stack))
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    wait_until(lambda: is_gone(killed.pid), "the killed gateway gone")
    left = of(killed.pid, registered(stack))
    assert left, "Triton keeps a dead gateway's registrations"
    # Its file too, whether or not multiprocessing's resource tracker removed it when the gateway died.
    stale_file = shared_memory.SHM_DIR / f"{shared_memory.PREFIX}{killed.pid}_{'0' * 32}"
    stale_file.write_bytes(b"left behind")
    with gateway(stack, tmp_path / "next.log") as (_, target):
        assert not of(killed.pid, registered(stack))
        assert not files_of(killed.pid)
        assert_same_audio(compose(target), over_grpc.song)


def test_registering_or_listing_shared_memory_needs_the_stacks_key(stack: Stack) -> None:
    """Without the key nobody registers a region of their own making, nor learns the gateway's regions' names (and
    with them, where the audio is)."""
    with triton_grpc.InferenceServerClient(f"127.0.0.1:{stack.settings.triton_grpc_port}") as stranger:
        with pytest.raises(InferenceServerException, match="restricted"):
            stranger.register_system_shared_memory("stranger", "/stranger", 1024)
        with pytest.raises(InferenceServerException, match="restricted"):
            stranger.get_system_shared_memory_status()
        with pytest.raises(InferenceServerException, match="restricted"):
            stranger.unregister_system_shared_memory()
    assert "stranger" not in registered(stack)
