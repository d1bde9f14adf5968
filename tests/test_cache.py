"""The result cache's own logic (gateway.cache) on fakeredis and a real ContentStore: small results stay in Redis,
large ones go to the store with only their reference in Redis, a damaged or missing blob is a miss, and the sweep
deletes expired blobs and the oldest past the limit. The real stack proves it end to end (test_stack_cache)."""

import os
import time
from pathlib import Path
from typing import cast

import fakeredis
import pytest

from dgxmusic.v1 import music_service_pb2 as pb
from gateway import metrics
from gateway.artifacts import ContentStore
from gateway.cache import BLOB, INLINE, BlobLimits, Recording, RedisGuard, ResultCache, framed, unframed

KEY = "dgxmusic:v3:compose:a"


def recording(*sizes: int, cache: ResultCache | None = None) -> Recording:
    """A result of progress events whose messages are `sizes` bytes long (recorded as `cache` records them)."""
    result = cache.recording(1 << 30) if cache is not None else Recording(max_bytes=1 << 30)
    for number, size in enumerate(sizes):
        result.append(pb.ComposeResponse(progress=pb.Progress(message=chr(ord("a") + number) * size)))
    return result


def messages(events: list[bytes] | None) -> list[str]:
    assert events is not None
    return [pb.ComposeResponse.FromString(raw).progress.message for raw in events]


def cache_on(client: fakeredis.FakeAsyncRedis, root: Path, *, max_bytes: int = 1 << 30) -> ResultCache:
    limits = BlobLimits(ContentStore(root), inline_max_bytes=1000, max_bytes=max_bytes)
    return ResultCache(client, 60, RedisGuard(5.0), signing_key=b"k" * 32, blobs=limits)


def counted(result: str) -> float:
    return metrics.CACHE.labels(result)._value.get()  # type: ignore[no-any-return]  # prometheus-client's own


def test_framed_events_come_back_whole_and_a_truncated_blob_is_refused() -> None:
    events = [b"", b"one", b"x" * 70_000]
    blob = b"".join(framed(events))
    assert unframed(blob) == events
    with pytest.raises(Exception, match="truncated"):
        unframed(blob[:-1])


async def test_a_small_result_stays_in_redis_and_a_large_one_goes_to_the_store(tmp_path: Path) -> None:
    client = fakeredis.FakeAsyncRedis()
    cache = cache_on(client, tmp_path)

    await cache.put(KEY, recording(10, 20, cache=cache))
    assert (await client.lindex(KEY, 1)) == INLINE
    assert messages(await cache.get(KEY)) == ["a" * 10, "b" * 20]
    assert not list(ContentStore(tmp_path).blobs())

    await cache.put(KEY, recording(600, 700, cache=cache))  # spilled to the store's disk as it was recorded
    entry = cast(list[bytes], await client.lrange(KEY, 0, -1))
    assert entry[1] == BLOB
    assert len(entry) == 3, "only the blob's reference is in Redis"
    assert [name for name, _ in ContentStore(tmp_path).blobs()] == [entry[2].decode()]
    assert messages(await cache.get(KEY)) == ["a" * 600, "b" * 700]


async def test_the_signature_covers_the_reference(tmp_path: Path) -> None:
    client = fakeredis.FakeAsyncRedis()
    cache = cache_on(client, tmp_path)
    await cache.put(KEY, recording(2000))
    other = ContentStore(tmp_path).put(b"".join(framed([b"another result"])))
    await client.lset(KEY, 2, other.sha256)
    rejected = counted("rejected")
    assert await cache.get(KEY) is None
    assert counted("rejected") == rejected + 1


async def test_a_damaged_or_missing_blob_is_a_miss(tmp_path: Path) -> None:
    client = fakeredis.FakeAsyncRedis()
    cache = cache_on(client, tmp_path)
    await cache.put(KEY, recording(2000))
    sha256 = cast(bytes, await client.lindex(KEY, 2)).decode()
    store = ContentStore(tmp_path)
    data = bytearray(store.path(sha256).read_bytes())
    data[-1] ^= 1
    store.path(sha256).write_bytes(bytes(data))
    damaged = counted("damaged")
    assert await cache.get(KEY) is None
    store.delete(sha256)
    assert await cache.get(KEY) is None
    assert counted("damaged") == damaged + 2

    await cache.put(KEY, recording(2000))  # written again, it is served again
    assert messages(await cache.get(KEY)) == ["a" * 2000]


async def test_a_result_over_the_stores_limit_is_not_cached(tmp_path: Path) -> None:
    client = fakeredis.FakeAsyncRedis()
    cache = cache_on(client, tmp_path, max_bytes=1500)
    await cache.put(KEY, recording(2000))
    assert await client.exists(KEY) == 0
    assert not list(ContentStore(tmp_path).blobs())


async def test_the_sweep_deletes_expired_blobs_then_the_oldest_past_the_limit(tmp_path: Path) -> None:
    client = fakeredis.FakeAsyncRedis()
    cache = cache_on(client, tmp_path, max_bytes=5000)
    store = ContentStore(tmp_path)
    ages = {"expired": 60 + 600 + 10, "old": 50, "middle": 40, "new": 0}  # seconds; TTL 60 s and 600 s of grace
    digests = {}
    for name, age in ages.items():
        digests[name] = store.put(name.encode() * (2000 // len(name))).sha256
        then = time.time() - age
        os.utime(store.path(digests[name]), (then, then))

    await cache.sweep()
    assert {name for name, digest in digests.items() if digest in store} == {"middle", "new"}
    assert metrics.CACHE_BLOBS._value.get() == 2
    kept = sum(stat.st_size for _, stat in store.blobs())
    assert metrics.CACHE_BYTES.labels("store")._value.get() == kept <= 5000
