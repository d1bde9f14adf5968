"""Who may call MusicService: with API keys configured, each call shows one (`authorization: Bearer <key>` metadata),
which is checked against the keys' hashes (the settings hold no key) and counted against that key's rate limit and
daily quota. Without keys every call is let in: the embedded default, on a loopback host."""

import datetime
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc
import redis.asyncio as aioredis

from deploy.settings import ApiKey
from gateway.cache import REDIS_FAILURES, RedisGuard
from gateway.errors import ApiError

# A prefix makes a leaked key recognisable (to secret scanners too); the rest is 256 random bits.
KEY_PREFIX = "dgxm_"
_BEARER = "bearer "

Clock = Callable[[], float]


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """What the settings keep of a key. A fast hash suffices: the keys are random, not passwords to be guessed."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class TokenBucket:
    """A rate limit: up to `burst` calls at once, then `per_minute` a minute (one token back every 60/per_minute s)."""

    def __init__(self, per_minute: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self) -> float:
        """0 when a call may go now (it takes a token), else the seconds until one may."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def _presented_key(metadata: Iterable[tuple[str, Any]]) -> str | None:
    for name, value in metadata:
        if name == "authorization" and isinstance(value, str) and value[: len(_BEARER)].lower() == _BEARER:
            return value[len(_BEARER) :].strip()
    return None


class Gate:
    """The API keys a gateway accepts and their rate limits; `admit` lets a call in or raises its ApiError."""

    def __init__(self, keys: Mapping[str, ApiKey], clock: Clock = time.monotonic) -> None:
        self.keys = dict(keys)
        self.buckets = {name: TokenBucket(key.requests_per_minute, key.burst, clock) for name, key in keys.items()}

    def identify(self, key: str) -> str | None:
        """The name of the key, or None. Every hash is compared, each in constant time: how long this takes says
        nothing about which key, or how much of one, was right."""
        presented = key_hash(key).encode()
        found = None
        for name, expected in self.keys.items():
            if hmac.compare_digest(presented, expected.hash.encode()):
                found = name
        return found

    def admit(self, metadata: Iterable[tuple[str, Any]]) -> str | None:
        """The name of the caller's key (None when the gateway has no keys: every call is let in). UNAUTHENTICATED
        without a known key; RESOURCE_EXHAUSTED with the time to wait when the key is over its rate limit."""
        if not self.keys:
            return None
        key = _presented_key(metadata)
        if key is None:
            raise ApiError(grpc.StatusCode.UNAUTHENTICATED, "send an API key: metadata 'authorization: Bearer <key>'")
        name = self.identify(key)
        if name is None:
            raise ApiError(grpc.StatusCode.UNAUTHENTICATED, "unknown API key")
        wait = self.buckets[name].take()
        if wait:
            limit = self.keys[name].requests_per_minute
            raise ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"API key {name} is over its rate limit ({limit:g} calls a minute): retry in {math.ceil(wait)} s",
                retry_after=wait,
            )
        return name


class DailyQuota:
    """Each key's calls of a UTC day, counted in Redis (so every gateway counts against the same quota); past the
    key's requests_per_day a call gets RESOURCE_EXHAUSTED with the time until the next day. When Redis does not
    answer calls are let through (logged, and Redis skipped for a while, as `guard` says): a quota is not worth an
    outage."""

    def __init__(
        self, client: "aioredis.Redis", keys: Mapping[str, ApiKey], guard: RedisGuard, clock: Clock = time.time
    ) -> None:
        self.client = client
        self.limits = {name: key.requests_per_day for name, key in keys.items() if key.requests_per_day is not None}
        self.guard = guard
        self.clock = clock

    async def spend(self, name: str | None) -> None:
        limit = self.limits.get(name) if name is not None else None
        if limit is None or not self.guard.open:
            return
        now = datetime.datetime.fromtimestamp(self.clock(), datetime.UTC)
        tomorrow = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
        wait = (tomorrow - now).total_seconds()
        counter = f"dgxmusic:quota:{now.date().isoformat()}:{name}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                # A time to live, not a time of day: Redis's clock need not agree with ours.
                pipe.expire(counter, math.ceil(wait) + 3600)
                spent, _ = await pipe.execute()
        except REDIS_FAILURES as exc:
            self.guard.failed("quota_not_counted", exc)
            return
        if spent > limit:
            raise ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"API key {name} has used its quota of {limit} calls today (UTC): retry in {math.ceil(wait)} s",
                retry_after=wait,
            )
