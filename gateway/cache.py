"""Redis: finished results (the exact response events, replayed on a hit) and job state. Redis is an optimisation
here, never a dependency of correctness: when it is down the gateway logs it and computes afresh."""

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from gateway import metrics

log = structlog.get_logger(__name__)

# Bump when the cached representation changes, so old entries are never misread.
CACHE_SCHEMA = "v1"


def cache_key(kind: str, normalised: dict[str, Any]) -> str:
    """A key from a request with every default resolved (model versions included by the caller)."""
    canonical = json.dumps(normalised, sort_keys=True, separators=(",", ":"), default=str)
    return f"dgxmusic:{CACHE_SCHEMA}:{kind}:{hashlib.sha256(canonical.encode()).hexdigest()}"


class ResultCache:
    def __init__(self, client: "aioredis.Redis", ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    async def get(self, key: str) -> list[bytes] | None:
        if not self.enabled:
            return None
        try:
            events = cast(list[bytes], await self.client.lrange(key, 0, -1))
        except RedisError as exc:
            metrics.CACHE.labels("error").inc()
            log.warning("cache_unavailable", error=str(exc))
            return None
        metrics.CACHE.labels("hit" if events else "miss").inc()
        return events or None

    async def put(self, key: str, events: Sequence[bytes]) -> None:
        """Writes under a temporary key and renames, so a reader never sees half an entry."""
        if not self.enabled or not events:
            return
        staging = f"{key}:staging:{time.monotonic_ns()}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(staging, *events)
                pipe.expire(staging, self.ttl_seconds)
                pipe.rename(staging, key)
                await pipe.execute()
        except RedisError as exc:
            log.warning("cache_write_failed", error=str(exc))


class JobStore:
    """One Redis hash per long-running request: what it is, where it is, how it ended."""

    def __init__(self, client: "aioredis.Redis", ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def key(job_id: str) -> str:
        return f"dgxmusic:job:{job_id}"

    async def update(self, job_id: str, **fields: str | float) -> None:
        mapping: dict[str | bytes, str | float] = {"updated_at": time.time()}
        mapping.update(fields)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hset(self.key(job_id), mapping=mapping)  # type: ignore[arg-type]
                pipe.expire(self.key(job_id), self.ttl_seconds)
                await pipe.execute()
        except RedisError as exc:
            log.warning("job_store_unavailable", error=str(exc))
