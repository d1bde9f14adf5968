"""The result cache on the real stack: a compose's tens of MB of audio are kept in the cache's store with only their
reference in Redis, so the first compose of a song is cached and its repeat is a hit; a damaged blob is a miss, not
an error; and the cache's size and lookups are on /metrics."""

import re
import urllib.request

import numpy as np

from clients.client import MusicClient, compose_request, song_options
from conftest import stack_redis
from deploy.launcher import Stack
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.artifacts import ContentStore
from gateway.cache import BLOB
from waiting import wait_until


def metric(stack: Stack, name: str) -> float:
    """The value of one sample on the gateway's /metrics (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.settings.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_large_compose_is_cached_in_the_store_and_a_damaged_blob_is_a_miss(stack: Stack, client: MusicClient) -> None:
    request = compose_request("cache check: synthwave 100, A minor", options=song_options(bars=8, seed=15))
    hits = metric(stack, 'dgxmusic_cache_lookups_total{result="hit"}')
    with stack_redis(stack) as redis:
        before = set(redis.scan_iter(match="dgxmusic:*:compose:*"))

    first = client.compose(request)
    repeat = client.compose(request)  # right away: it waits for the first call's write
    assert not first.summary.cache_hit
    assert repeat.summary.cache_hit
    assert {t.stage for t in repeat.summary.stage_timings} == {pb.STAGE_CACHE}, "Triton was not called"
    assert repeat.midi == first.midi
    np.testing.assert_array_equal(repeat.mix, first.mix)
    assert set(repeat.stems) == set(first.stems)
    size = first.mix.nbytes * (1 + len(first.stems))
    assert size > 10 * stack.settings.cache_inline_max_bytes

    with stack_redis(stack) as redis:
        [entry] = set(redis.scan_iter(match="dgxmusic:*:compose:*")) - before
        assert redis.lindex(entry, 1) == BLOB
        reference = redis.lindex(entry, 2)
        assert redis.llen(entry) == 3, "only the signature, the form and the blob's reference are in Redis"
    store = ContentStore(stack.settings.cache_dir)
    blob = store.path(reference.decode())
    assert blob.stat().st_size > size

    stored = blob.stat().st_size
    wait_until(lambda: metric(stack, 'dgxmusic_cache_bytes{where="store"}') >= stored, "the blobs' bytes on /metrics")
    assert metric(stack, "dgxmusic_cache_entries") >= 1
    assert metric(stack, 'dgxmusic_cache_bytes{where="redis"}') > 0
    assert metric(stack, 'dgxmusic_cache_lookups_total{result="hit"}') == hits + 1

    damaged = bytearray(blob.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    blob.write_bytes(bytes(damaged))
    again = client.compose(request)
    assert not again.summary.cache_hit, "a damaged blob is never served"
    np.testing.assert_array_equal(again.mix, first.mix)
    assert client.compose(request).summary.cache_hit, "computed again, the result was cached again"
    assert blob.read_bytes() != bytes(damaged)
