"""The result cache: finished results (the exact response events, replayed on a hit) under a key in Redis. A small
result is kept in its Redis entry; a large one (a compose's tens of MB of audio) as one blob in a ContentStore of the
cache's own, with only its reference in Redis. The cache is an optimisation, never a dependency of correctness: when
Redis is down, or a blob is gone or damaged, the gateway logs it and computes afresh."""

import asyncio
import hashlib
import hmac
import json
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
import structlog
from google.protobuf.message import Message
from redis.exceptions import RedisError, ResponseError

from gateway import metrics
from gateway.artifacts import ContentStore, CorruptArtifact
from gateway.background import in_background

log = structlog.get_logger(__name__)

# Bump when the cached representation changes, so old entries are never misread.
CACHE_SCHEMA = "v3"  # v2: the first element of an entry is its signature; v3: the second its form (INLINE, BLOB)

# The form of an entry, after its signature: INLINE, then the result's events; BLOB, then the SHA-256 (hex) of the
# blob holding the events (each prefixed by its length).
INLINE = b"inline"
BLOB = b"blob"
_LENGTH_BYTES = 4


def cache_key(kind: str, normalised: dict[str, Any]) -> str:
    """A key from a request with every default resolved (model versions included by the caller)."""
    canonical = json.dumps(normalised, sort_keys=True, separators=(",", ":"), default=str)
    return f"dgxmusic:{CACHE_SCHEMA}:{kind}:{hashlib.sha256(canonical.encode()).hexdigest()}"


class RedisGuard:
    """Skips Redis for a while after it failed, so that a frozen or lost Redis costs one timeout (the client's
    socket timeout) per retry period, not one per call."""

    def __init__(self, retry_seconds: float) -> None:
        self.retry_seconds = retry_seconds
        self._skip_until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() >= self._skip_until

    def failed(self, what: str, exc: Exception) -> None:
        self._skip_until = time.monotonic() + self.retry_seconds
        log.warning(what, error=str(exc) or type(exc).__name__, retry_in_seconds=self.retry_seconds)


# What the client raises when Redis is away, slow or confused.
REDIS_FAILURES = (RedisError, TimeoutError, OSError)


class Recording:
    """The events of one response, kept for the cache (serialized, each after its length, as a blob holds them)
    while they fit in `max_bytes`; past it, none are kept. Past `spill_bytes` they are kept in an unnamed file in
    `spill_dir` rather than in memory, so that a compose's tens of MB of audio are not held a second time while they
    stream (0: always in memory)."""

    def __init__(self, max_bytes: int, *, spill_bytes: int = 0, spill_dir: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.size = 0  # of the events, without their lengths
        self.count = 0
        self.overflowed = max_bytes <= 0
        self._users = 0
        # Closed when its last user lets it go (the cache once written, the library once read), or when the call
        # ends with none (garbage collected).
        spill_to = None if spill_dir is None else str(spill_dir)
        self._kept = tempfile.SpooledTemporaryFile(max_size=spill_bytes, dir=spill_to)  # noqa: SIM115

    def append(self, event: Message) -> None:
        if self.overflowed:
            return
        data = event.SerializeToString()
        self.size += len(data)
        if self.size > self.max_bytes:
            self._drop()
            return
        try:
            for part in framed([data]):
                self._kept.write(part)
        except OSError as exc:  # no room to spill: the result is not cached, the call goes on
            log.warning("cache_recording_failed", error=str(exc))
            self._drop()
            return
        self.count += 1

    @property
    def events(self) -> list[bytes]:
        """The serialized events kept (none once overflowed)."""
        return [] if self.overflowed else unframed(b"".join(self.blocks()))

    def blocks(self) -> Iterator[bytes]:
        """The events kept, framed, in blocks of at most a MiB."""
        self._kept.seek(0)
        while block := self._kept.read(1 << 20):
            yield block

    def use(self) -> None:
        """One more reader (the cache, the library), each to release() it when done."""
        self._users += 1

    def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            self.close()

    def close(self) -> None:
        self._kept.close()

    def _drop(self) -> None:
        self.overflowed = True
        self.count = 0
        self._kept.close()


@dataclass(frozen=True)
class BlobRef:
    """A result's blob in the cache's store, by the store's folder and the blob's SHA-256: what another process
    (the library's describing one) needs to read it."""

    root: Path
    sha256: str

    def events(self) -> list[bytes]:
        """The result's events; CorruptArtifact when the blob is gone (swept) or damaged."""
        return unframed(ContentStore(self.root).read(self.sha256))


def sign(signing_key: bytes, key: str, events: list[bytes]) -> bytes:
    """An entry's signature: HMAC-SHA256 over its cache key and each event (length-prefixed, so that events cannot
    be moved across their boundaries)."""
    mac = hmac.new(signing_key, key.encode(), hashlib.sha256)
    for event in events:
        mac.update(len(event).to_bytes(8, "big"))
        mac.update(event)
    return mac.digest()


def framed(events: Iterable[bytes]) -> Iterator[bytes]:
    """The events as a blob's parts: each after its length."""
    for event in events:
        yield len(event).to_bytes(_LENGTH_BYTES, "big")
        yield event


def unframed(blob: bytes) -> list[bytes]:
    """The events of a blob written from framed(); CorruptArtifact when it does not end where its last event does."""
    events: list[bytes] = []
    view = memoryview(blob)
    at = 0
    while at < len(view):
        length = int.from_bytes(view[at : at + _LENGTH_BYTES], "big")
        at += _LENGTH_BYTES
        if at + length > len(view):
            raise CorruptArtifact("a cached result's blob is truncated")
        events.append(bytes(view[at : at + length]))
        at += length
    return events


@dataclass(frozen=True)
class BlobLimits:
    """Where the cache keeps large results, and how much of them."""

    store: ContentStore
    inline_max_bytes: int  # results up to this size stay in their Redis entry
    max_bytes: int  # the blobs together; past it the oldest go
    # A blob outlives its Redis entry by this much, so that a reader who found the entry still finds the blob.
    grace_seconds: float = 600.0


class ResultCache:
    """Finished results in Redis: each entry is a list of its signature, its form, then its events (INLINE) or its
    blob's reference (BLOB). An entry whose signature does not match (written by anyone without the stack's signing
    key, or under another key) is never served, nor is a blob whose bytes are not those of its reference. Without
    `blobs`, results too large to stay in Redis are not cached."""

    def __init__(
        self,
        client: "aioredis.Redis",
        ttl_seconds: int,
        guard: RedisGuard,
        signing_key: bytes,
        blobs: BlobLimits | None = None,
    ) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.guard = guard
        self.signing_key = signing_key
        self.blobs = blobs

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    async def get(self, key: str) -> list[bytes] | None:
        if not self.enabled:
            return None
        if not self.guard.open:
            metrics.CACHE.labels("error").inc()
            return None
        try:
            entry = cast(list[bytes], await self.client.lrange(key, 0, -1))
        except REDIS_FAILURES as exc:
            metrics.CACHE.labels("error").inc()
            self.guard.failed("cache_unavailable", exc)
            return None
        if not entry:
            metrics.CACHE.labels("miss").inc()
            return None
        signature, *signed = entry
        if not hmac.compare_digest(signature, await asyncio.to_thread(sign, self.signing_key, key, signed)):
            log.warning("cache_entry_not_signed_by_us", key=key)
            metrics.CACHE.labels("rejected").inc()
            return None
        form, *rest = signed
        if form == BLOB and self.blobs is not None and len(rest) == 1:
            try:
                result = await asyncio.to_thread(self._read_blob, self.blobs.store, rest[0].decode())
            except (CorruptArtifact, ValueError) as exc:  # gone (swept, or another host's) or damaged: computed again
                log.warning("cache_blob_unreadable", key=key, error=str(exc))
                metrics.CACHE.labels("damaged").inc()
                return None
        elif form == INLINE:
            result = rest
        else:  # a blob this gateway has no store for
            metrics.CACHE.labels("miss").inc()
            return None
        metrics.CACHE.labels("hit").inc()
        return result

    @staticmethod
    def _read_blob(store: ContentStore, sha256: str) -> list[bytes]:
        try:
            return unframed(store.read(sha256))
        except CorruptArtifact:
            store.delete(sha256)  # so that the result, computed again, is written again (put keeps a blob it has)
            raise

    async def put(self, key: str, recording: Recording) -> "BlobRef | None":
        """Writes the blob first (a large result), then the entry under a temporary key and renames, so a reader
        never sees half an entry, nor an entry without its blob. The blob's file, when one was written: the
        library reads the result from it rather than from the recording."""
        try:
            return await self._put(key, recording)
        finally:
            recording.release()

    async def _put(self, key: str, recording: Recording) -> "BlobRef | None":
        if not self.enabled or not self.guard.open:
            return None
        if recording.overflowed:
            log.info("cache_entry_too_large", bytes=recording.size, limit=recording.max_bytes)
            return None
        if not recording.count:
            return None
        inline = self.blobs is None or recording.size <= self.blobs.inline_max_bytes
        if not inline and self.blobs is not None and recording.size > self.blobs.max_bytes:
            log.info("cache_entry_too_large", bytes=recording.size, limit=self.blobs.max_bytes)
            return None
        # Signing and writing tens of MB of events takes a while: off the event loop.
        blob = None
        try:
            if inline:
                entry = await asyncio.to_thread(self._inline_entry, key, recording)
            else:
                assert self.blobs is not None
                written = await in_background(self.blobs.store.put, recording.blocks())  # as recorded: framed
                blob = BlobRef(self.blobs.store.root, written.sha256)
                entry = self._signed(key, [BLOB, blob.sha256.encode()])
        except OSError as exc:  # the store's disk is full or unwritable: the result is not cached
            log.warning("cache_blob_write_failed", key=key, error=str(exc))
            return None
        staging = f"{key}:staging:{time.monotonic_ns()}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(staging, *entry)
                pipe.expire(staging, self.ttl_seconds)
                pipe.rename(staging, key)
                await pipe.execute()
        except REDIS_FAILURES as exc:
            self.guard.failed("cache_write_failed", exc)
        return blob

    def _inline_entry(self, key: str, recording: Recording) -> list[bytes]:
        return self._signed(key, [INLINE, *recording.events])

    def recording(self, max_bytes: int) -> Recording:
        """A recording of one call's result, spilling to the store's disk past what stays inline."""
        if self.blobs is None:
            return Recording(max_bytes)
        self.blobs.store.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Recording(max_bytes, spill_bytes=self.blobs.inline_max_bytes, spill_dir=self.blobs.store.root)

    def _signed(self, key: str, signed: list[bytes]) -> list[bytes]:
        return [sign(self.signing_key, key, signed), *signed]

    async def sweep(self) -> None:
        """Deletes the blobs no entry can still name (older than the TTL and the grace), then the oldest while the
        blobs are over their limit, and sets the cache's gauges."""
        if self.blobs is not None:
            blobs, blob_bytes = await asyncio.to_thread(_swept, self.blobs, self.ttl_seconds)
            metrics.CACHE_BLOBS.set(blobs)
            metrics.CACHE_BYTES.labels("store").set(blob_bytes)
        if self.guard.open:
            try:
                await self._measure_redis()
            except ResponseError as exc:  # a Redis that refuses MEMORY USAGE: the gauges say nothing of it
                log.warning("cache_size_unknown", error=str(exc))
            except REDIS_FAILURES as exc:
                self.guard.failed("cache_size_unavailable", exc)

    async def _measure_redis(self) -> None:
        """Counts the cache's entries in Redis and the memory they take (MEMORY USAGE of each)."""
        keys = [
            key
            async for key in self.client.scan_iter(match=f"dgxmusic:{CACHE_SCHEMA}:*", count=1000)
            if b":staging:" not in key
        ]
        used = 0
        for start in range(0, len(keys), 1000):  # one round trip per thousand entries
            async with self.client.pipeline(transaction=False) as pipe:
                for key in keys[start : start + 1000]:
                    pipe.memory_usage(key)
                used += sum(size or 0 for size in await pipe.execute())
        metrics.CACHE_ENTRIES.set(len(keys))
        metrics.CACHE_BYTES.labels("redis").set(used)


async def sweep_periodically(cache: ResultCache, every_seconds: float) -> None:
    """Sweeps the cache now and every `every_seconds` (run as a task; cancel it to stop)."""
    while True:
        try:
            await cache.sweep()
        except OSError as exc:  # the store's disk: tried again next time
            log.warning("cache_sweep_failed", error=str(exc))
        await asyncio.sleep(every_seconds)


def _swept(limits: BlobLimits, ttl_seconds: float) -> tuple[int, int]:
    """Sweeps the blobs (see ResultCache.sweep); the number and bytes of those kept."""
    expired_before = time.time() - ttl_seconds - limits.grace_seconds
    kept: list[tuple[float, int, str]] = []
    for sha256, stat in limits.store.blobs():
        if stat.st_mtime < expired_before:
            limits.store.delete(sha256)
        else:
            kept.append((stat.st_mtime, stat.st_size, sha256))
    kept.sort()  # oldest first
    total = sum(size for _, size, _ in kept)
    while kept and total > limits.max_bytes:
        _, size, sha256 = kept.pop(0)
        limits.store.delete(sha256)
        total -= size
    return len(kept), total


class CachedResults:
    """The results in the cache, and those still being written there: a repeat that arrives while its result is
    being written waits for that write, and is a cache hit."""

    def __init__(self, cache: ResultCache) -> None:
        self.cache = cache
        self._writing: dict[str, asyncio.Task[BlobRef | None]] = {}  # cache writes in flight, by key

    async def find(self, key: str) -> list[bytes] | None:
        """The events of the cached result, if there is one."""
        if (writing := self._writing.get(key)) is not None:
            await asyncio.wait([writing])  # its outcome is the write's own business (cache.put logs failures)
        return await self.cache.get(key)

    def remember(self, key: str, recording: Recording) -> "asyncio.Task[BlobRef | None]":
        """Caches in the background so the client's summary is not held up by the write; the write's task (its
        result: the blob written, if one was)."""
        task = asyncio.create_task(self.cache.put(key, recording))
        self._writing[key] = task

        def forget(done: "asyncio.Task[BlobRef | None]") -> None:
            if self._writing.get(key) is done:  # a later write of the same key may have replaced it
                del self._writing[key]

        task.add_done_callback(forget)
        return task
