"""gateway.shared_memory's own logic: when it is on, which regions are stale, how the pool reuses, grows and refuses
(real /dev/shm regions; registration with Triton is a recording stand-in here, the real one is in
test_stack_shared_memory)."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from deploy import triton_url
from deploy.settings import SharedMemoryMode
from gateway import shared_memory
from gateway.shared_memory import REGION_STEP, RegionPool


@pytest.mark.parametrize(
    ("mode", "url", "on"),
    [
        ("auto", "127.0.0.1:8001", True),
        ("auto", "ipv4:127.0.0.1:8001,127.0.0.1:8011", True),
        ("auto", "[::1]:8001", True),
        ("auto", "ipv4:127.0.0.1:8001,10.0.0.2:8001", False),
        ("auto", "triton:8001", False),
        ("auto", "dns:///triton-headless:8001", False),
        ("on", "dns:///triton-headless:8001", True),
        ("off", "127.0.0.1:8001", False),
    ],
)
def test_auto_means_every_replica_on_loopback(mode: SharedMemoryMode, url: str, on: bool) -> None:
    assert shared_memory.enabled(mode, triton_url.parse(url)) is on


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_region_is_stale_when_its_gateway_is_gone_or_is_this_one() -> None:
    alive = shared_memory.region_name(os.getppid())
    dead = shared_memory.region_name(dead_pid())
    mine = shared_memory.region_name()
    assert shared_memory.stale_names([alive, dead, mine, "dgxmusic_8001_triton", "other"]) == sorted([dead, mine])


def test_region_names_are_not_guessable() -> None:
    first, second = shared_memory.region_name(), shared_memory.region_name()
    assert first != second
    assert len(first.rsplit("_", 1)[1]) == 32  # 128 random bits


def test_stale_files_are_unlinked_and_others_kept(tmp_path: Path) -> None:
    dead = tmp_path / shared_memory.region_name(dead_pid())
    alive = tmp_path / shared_memory.region_name(os.getppid())
    triton_own = tmp_path / "dgxmusic_8001_abc"
    for path in (dead, alive, triton_own):
        path.write_bytes(b"x")
    assert shared_memory.unlink_stale_files(tmp_path) == [dead.name]
    assert not dead.exists()
    assert alive.exists()
    assert triton_own.exists()


def test_layout_puts_tensors_one_after_another_aligned() -> None:
    sizes = {"MIX": 100, "STEMS": 1000}
    assert shared_memory.layout(sizes) == {"MIX": (0, 100), "STEMS": (128, 1000)}
    assert shared_memory.span(sizes) == 128 + 1024


class Registered(list[str]):
    async def __call__(self, region: shared_memory.Region) -> None:
        self.append(region.name)


async def test_the_pool_reuses_a_free_region_and_makes_one_while_all_are_busy() -> None:
    registered = Registered()
    pool = RegionPool(4 * REGION_STEP, registered, Registered())
    try:
        first = await pool.acquire(1000)
        assert first is not None
        assert first.byte_size == REGION_STEP
        assert (shared_memory.SHM_DIR / first.name).stat().st_mode & 0o777 == 0o600
        pool.release(first)
        assert await pool.acquire(REGION_STEP) is first  # registered once, reused
        second = await pool.acquire(10)
        assert second is not None
        assert second is not first
        assert registered == [first.name, second.name]
        assert REGISTRY.get_sample_value("dgxmusic_shared_memory_bytes") == 2 * REGION_STEP
    finally:
        pool.close()
    assert not list(shared_memory.SHM_DIR.glob(f"{first.name}*"))


async def test_the_pool_refuses_what_does_not_fit_and_frees_small_regions_for_a_large_one() -> None:
    unregistered = Registered()
    pool = RegionPool(2 * REGION_STEP, Registered(), unregistered)
    try:
        small = await pool.acquire(10)
        assert small is not None
        pool.release(small)
        assert await pool.acquire(2 * REGION_STEP + 1) is None
        assert pool.regions == [small]  # kept: no room would have been enough
        small = await pool.acquire(10)
        assert small is not None
        assert await pool.acquire(2 * REGION_STEP) is None  # the small one is busy
        pool.release(small)
        large = await pool.acquire(2 * REGION_STEP)
        assert large is not None
        assert large.byte_size == 2 * REGION_STEP
        assert pool.regions == [large]
        assert unregistered == [small.name], "Triton lets go of the region it gave its room"
    finally:
        pool.close()


async def test_concurrent_requests_get_regions_of_their_own() -> None:
    pool = RegionPool(8 * REGION_STEP, Registered(), Registered())
    try:
        regions = await asyncio.gather(*(pool.acquire(1000) for _ in range(4)))
        assert len({id(region) for region in regions}) == 4
    finally:
        pool.close()
