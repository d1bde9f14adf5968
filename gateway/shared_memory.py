"""Triton system shared memory for the gateway's large tensors (a render's mix and stems, Basic Pitch's outputs):
Triton writes them into a region of this gateway's own instead of sending tens of MB over gRPC. Only for a Triton on
the same host (Settings.triton_shared_memory: auto = when every replica is on loopback).

Regions are made when a request needs one, registered with every replica once, and reused across requests; they
take at most `capacity` bytes together, and a request that finds none free and no room left goes over gRPC. Each
region's name carries the gateway's pid and a random part (nobody else can guess it) and its file is its owner's
alone (mode 0600); a gateway removes its regions when it stops, and at start those of gateways that died (their pid
is gone), from /dev/shm and from Triton."""

import asyncio
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tritonclient.utils.shared_memory as triton_shm

from deploy.settings import SharedMemoryMode
from deploy.triton_url import TritonUrl
from dgxmusic.network import is_loopback
from gateway import metrics

SharedMemoryException = triton_shm.SharedMemoryException

PREFIX = "dgxmusic_gw_"
_NAME = re.compile(rf"{PREFIX}(\d+)_[0-9a-f]+")
SHM_DIR = Path("/dev/shm")
# Regions grow in steps, so that a slightly longer song reuses the region of the last one.
REGION_STEP = 16 * 1024 * 1024
# Each tensor starts on a cache line.
ALIGNMENT = 64


def enabled(mode: SharedMemoryMode, url: TritonUrl) -> bool:
    """Whether the gateway uses shared memory with Triton at `url`: `auto` when every replica is on loopback (a
    dns: name's replicas are other hosts)."""
    if mode != "auto":
        return mode == "on"
    return url.form != "dns" and all(is_loopback(replica.host) for replica in url.replicas)


def region_name(pid: int | None = None) -> str:
    """A new region's name: this process's pid (to find it after a crash) and 128 random bits."""
    return f"{PREFIX}{os.getpid() if pid is None else pid}_{secrets.token_hex(16)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_stale(name: str) -> bool:
    """A gateway region whose owner is gone (or is this process, which has made none yet when it asks)."""
    match = _NAME.fullmatch(name)
    if match is None:
        return False
    pid = int(match.group(1))
    return pid == os.getpid() or not _alive(pid)


def stale_names(names: Iterable[str]) -> list[str]:
    return sorted(name for name in names if is_stale(name))


def unlink_stale_files(directory: Path = SHM_DIR) -> list[str]:
    """Removes the region files of gateways that died; their names."""
    removed = []
    for path in directory.glob(f"{PREFIX}*"):
        if is_stale(path.name):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return sorted(removed)


def _aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


def layout(sizes: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Each tensor's (offset, byte size) in one region, one after another."""
    placed, offset = {}, 0
    for name, size in sizes.items():
        placed[name] = (offset, size)
        offset += _aligned(size)
    return placed


def span(sizes: dict[str, int]) -> int:
    """The bytes a region needs for the tensors of `layout(sizes)`."""
    return sum(_aligned(size) for size in sizes.values())


@dataclass(eq=False)
class Region:
    """One system shared memory region: Triton knows it by `name`, and opens it by `key`."""

    name: str
    byte_size: int
    handle: triton_shm.SharedMemoryRegion

    @property
    def key(self) -> str:
        return f"/{self.name}"

    def read(self, dtype: npt.DTypeLike, shape: list[int], offset: int) -> npt.NDArray[np.generic]:
        """A copy of the tensor Triton wrote at `offset` (the region is reused once the request is done)."""
        view = triton_shm.get_contents_as_numpy(self.handle, np.dtype(dtype), shape, offset)
        return np.array(view, copy=True)

    def destroy(self) -> None:
        triton_shm.destroy_shared_memory_region(self.handle)


Register = Callable[[Region], Awaitable[None]]


class RegionPool:
    """The gateway's regions, `capacity` bytes at most in all. `register` tells every replica of a new region,
    `unregister` of one that goes (Triton keeps a registered region mapped, and so in memory, until told)."""

    def __init__(self, capacity: int, register: Register, unregister: Register) -> None:
        self.capacity = capacity
        self._register = register
        self._unregister = unregister
        self._free: list[Region] = []
        self._busy: set[Region] = set()
        self._lock = asyncio.Lock()

    @property
    def regions(self) -> list[Region]:
        return [*self._free, *self._busy]

    @property
    def allocated(self) -> int:
        return sum(region.byte_size for region in self.regions)

    async def acquire(self, byte_size: int) -> Region | None:
        """A region of at least `byte_size` bytes for one request, until `release`; None when there is no room
        (the caller goes over gRPC)."""
        async with self._lock:
            fitting = [region for region in self._free if region.byte_size >= byte_size]
            if fitting:
                region = min(fitting, key=lambda r: r.byte_size)
                self._free.remove(region)
                self._busy.add(region)
                return region
            size = -(-byte_size // REGION_STEP) * REGION_STEP
            if size > self.capacity:
                return None
            # Free regions too small for it give their room to a larger one.
            while self._free and self.allocated + size > self.capacity:
                evicted = self._free.pop(0)
                await self._unregister(evicted)
                evicted.destroy()
                metrics.SHARED_MEMORY_BYTES.set(self.allocated)
            if self.allocated + size > self.capacity:
                return None
            name = region_name()
            # create_only: a file of that name someone made first is never used
            handle = triton_shm.create_shared_memory_region(name, f"/{name}", size, create_only=True)
            region = Region(name, size, handle)
            try:
                await self._register(region)
            except BaseException:
                region.destroy()
                raise
            self._busy.add(region)
            metrics.SHARED_MEMORY_BYTES.set(self.allocated)
            return region

    def release(self, region: Region) -> None:
        self._busy.discard(region)
        self._free.append(region)

    def close(self) -> None:
        """Unlinks every region (Triton's registrations are the caller's to remove first)."""
        for region in self.regions:
            region.destroy()
        self._free.clear()
        self._busy.clear()
        metrics.SHARED_MEMORY_BYTES.set(0)
