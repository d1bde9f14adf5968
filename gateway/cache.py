"""Redis: finished results (the exact response events, replayed on a hit). The cache is an optimisation, never a
dependency of correctness: when Redis is down the gateway logs it and computes afresh."""

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any, cast

import redis.asyncio as aioredis
import structlog
from google.protobuf.message import Message
from redis.exceptions import RedisError

from gateway import metrics

log = structlog.get_logger(__name__)

# Bump when the cached representation changes, so old entries are never misread.
CACHE_SCHEMA = "v2"  # v2: the first element of an entry is its signature


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
    """The events of one response, kept for the cache while they fit in `max_bytes`; past it, none are kept (a
    result that large would crowd the rest out of Redis, and holding it costs the gateway's memory)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.events: list[Message] = []
        self.size = 0
        self.overflowed = max_bytes <= 0

    def append(self, event: Message) -> None:
        if self.overflowed:
            return
        self.size += event.ByteSize()
        if self.size > self.max_bytes:
            self.overflowed = True
            self.events.clear()
            return
        self.events.append(event)


def sign(signing_key: bytes, key: str, events: list[bytes]) -> bytes:
    """An entry's signature: HMAC-SHA256 over its cache key and each event (length-prefixed, so that events cannot
    be moved across their boundaries)."""
    mac = hmac.new(signing_key, key.encode(), hashlib.sha256)
    for event in events:
        mac.update(len(event).to_bytes(8, "big"))
        mac.update(event)
    return mac.digest()


class ResultCache:
    """Finished results in Redis: each entry is a list of its signature, then its events. An entry whose signature
    does not match (written by anyone without the stack's signing key, or under another key) is never served."""

    def __init__(self, client: "aioredis.Redis", ttl_seconds: int, guard: RedisGuard, signing_key: bytes) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.guard = guard
        self.signing_key = signing_key

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
            events = cast(list[bytes], await self.client.lrange(key, 0, -1))
        except REDIS_FAILURES as exc:
            metrics.CACHE.labels("error").inc()
            self.guard.failed("cache_unavailable", exc)
            return None
        if not events:
            metrics.CACHE.labels("miss").inc()
            return None
        signature, *result = events
        if not hmac.compare_digest(signature, await asyncio.to_thread(sign, self.signing_key, key, result)):
            log.warning("cache_entry_not_signed_by_us", key=key)
            metrics.CACHE.labels("rejected").inc()
            return None
        metrics.CACHE.labels("hit").inc()
        return result

    async def put(self, key: str, recording: Recording) -> None:
        """Writes under a temporary key and renames, so a reader never sees half an entry."""
        if not self.enabled or not recording.events or not self.guard.open:
            return
        if recording.overflowed:
            log.info("cache_entry_too_large", bytes=recording.size, limit=recording.max_bytes)
            return
        # Serialising and signing tens of MB of events takes a while: off the event loop.
        events = await asyncio.to_thread(self._signed, key, recording)
        staging = f"{key}:staging:{time.monotonic_ns()}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(staging, *events)
                pipe.expire(staging, self.ttl_seconds)
                pipe.rename(staging, key)
                await pipe.execute()
        except REDIS_FAILURES as exc:
            self.guard.failed("cache_write_failed", exc)

    def _signed(self, key: str, recording: Recording) -> list[bytes]:
        events = [event.SerializeToString() for event in recording.events]
        return [sign(self.signing_key, key, events), *events]


class CachedResults:
    """The results in the cache, and those still being written there: a repeat that arrives while its result is
    being written waits for that write, and is a cache hit."""

    def __init__(self, cache: ResultCache) -> None:
        self.cache = cache
        self._writing: dict[str, asyncio.Task[None]] = {}  # cache writes in flight, by key

    async def find(self, key: str) -> list[bytes] | None:
        """The events of the cached result, if there is one."""
        if (writing := self._writing.get(key)) is not None:
            await asyncio.wait([writing])  # its outcome is the write's own business (cache.put logs failures)
        return await self.cache.get(key)

    def remember(self, key: str, recording: Recording) -> None:
        """Caches in the background so the client's summary is not held up by the write."""
        task = asyncio.create_task(self.cache.put(key, recording))
        self._writing[key] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._writing.get(key) is done:  # a later write of the same key may have replaced it
                del self._writing[key]

        task.add_done_callback(forget)
