"""The result cache on the first composes of a fresh stack (issue #15: "the cache misses what it just computed").
Starts its own embedded stack on free ports and prints, side by side in one run:

1. for --songs distinct songs (--bars bars, mix + stems, 44.1 kHz float32): the first call's seconds, its identical
   repeat's seconds and whether the repeat was a cache hit;
2. what the cache then holds: the memory of its entries in Redis and the cache store's bytes on disk, per song;
3. whether the cached events would compress cheaply (zlib level 1: ratio and MB/s) or hold the same bytes twice
   (identical audio chunks).

Run: `.venv/bin/python benchmarks/cache.py [--songs N] [--bars N]`.
"""

import argparse
import hashlib
import statistics
import tempfile
import time
import zlib
from pathlib import Path

import redis

from clients.client import MusicClient, compose_request, song_options
from deploy.launcher import Stack, settings_on_free_ports
from dgxmusic.v1 import music_service_pb2 as pb

PROMPT = "synthwave 100, A minor, with pads, bass, lead and drums"


def directory_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file()) if root.is_dir() else 0


def compressibility(client: MusicClient, request: pb.ComposeRequest) -> None:
    """zlib level 1 and duplicate chunks over the audio a compose sends (what the cache keeps)."""
    chunks = [
        event.audio_chunk.data
        for event in client.stub.Compose(request, timeout=600)
        if event.WhichOneof("event") == "audio_chunk"
    ]
    audio = b"".join(chunks)
    began = time.perf_counter()
    packed = zlib.compress(audio, 1)
    seconds = time.perf_counter() - began
    distinct = len({hashlib.sha256(chunk).digest() for chunk in chunks})
    print(
        f"  audio of one song: {len(audio) / 1e6:.1f} MB in {len(chunks)} chunks, {distinct} distinct; "
        f"zlib level 1: {len(packed) / len(audio):.2f} of the size at {len(audio) / seconds / 1e6:.0f} MB/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=5)
    parser.add_argument("--bars", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_on_free_ports(Path(tmp) / "stack", log_level="warning")
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=600) as client:
            assert stack.settings.redis_password is not None  # the stack's own, generated at its start
            password = stack.settings.redis_password.get_secret_value()
            store = redis.Redis(port=settings.redis_port, password=password)
            firsts, repeats, hits = [], [], 0
            print(f"{args.songs} songs of {args.bars} bars (mix + stems), each composed then asked for again at once:")
            for seed in range(args.songs):
                request = compose_request(PROMPT, options=song_options(bars=args.bars, seed=seed))
                began = time.perf_counter()
                client.compose(request)
                firsts.append(time.perf_counter() - began)
                began = time.perf_counter()
                repeat = client.compose(request)
                repeats.append(time.perf_counter() - began)
                hits += repeat.summary.cache_hit
                print(
                    f"  seed {seed}: first {firsts[-1]:.2f} s, repeat {repeats[-1]:.2f} s "
                    f"({'hit' if repeat.summary.cache_hit else 'MISS'})"
                )
            first50, repeat50 = statistics.median(firsts), statistics.median(repeats)
            print(
                f"  repeats that were hits: {hits}/{args.songs}; median first {first50:.2f} s, repeat "
                f"{repeat50:.2f} s ({first50 / repeat50:.1f}x)"
            )
            redis_used = sum(store.memory_usage(key) or 0 for key in store.scan_iter(match="dgxmusic:*:compose:*"))
            cache_dir = getattr(settings, "cache_dir", None)
            store_bytes = directory_bytes(cache_dir) if cache_dir is not None else 0
            print(
                f"  the cache holds: Redis {redis_used / 1e6:.2f} MB ({redis_used / args.songs:.0f} bytes a song), "
                f"store {store_bytes / 1e6:.1f} MB ({store_bytes / args.songs / 1e6:.1f} MB a song)"
            )
            compressibility(client, compose_request(PROMPT, options=song_options(bars=args.bars, seed=0)))


if __name__ == "__main__":
    main()
