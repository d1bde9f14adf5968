"""Library search benchmark (issue #17): 10,000 items in a real PostgreSQL (Debian's, a cluster of the benchmark's own,
as `dgx-music serve` runs it), then SearchLibrary's and SimilarItems' work in the store timed - free text alone, free
text with filters, filters alone, and similar - p50 and p95 in ms, against the target of 50 ms on 10,000 items.

The items are realistic: songs the composer makes for prompts of every genre, each described by library.describe
(text vector from its words and metadata, sound vector from its MIDI); the 10,000 items reuse those songs' sound under
prompts of their own. The query's embedding (embed_query) is timed apart: it is part of a search, not of the store.

Run: `make bench-library` (or `.venv/bin/python benchmarks/library_search.py [--items N]`).
"""

import argparse
import asyncio
import functools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import composer
from composer.genres import GENRES
from deploy.launcher import running_postgres
from gateway.artifacts import ContentStore
from gateway.library import song_metadata
from gateway.songs import song_info
from library.describe import describe, embed_query
from library.query import parse_query, with_filters
from library.store import LibraryStore, NewItem

MOODS = ("dark", "bright", "chill", "epic", "dreamy", "hard", "warm", "melancholic", "uplifting", "gritty")
EXTRAS = ("with piano", "with strings", "heavy 808s", "for a night drive", "rainy day", "with organ", "lofi", "")
KEYS = ("C major", "A minor", "G minor", "D minor", "F major", "E minor", "Bb major", "F# minor")
TARGET_MS = 50.0


def songs(count: int, rng: random.Random) -> list[tuple[str, dict[str, Any], Any]]:
    """(prompt, metadata, sound vector) of `count` songs the composer makes, each described from its MIDI."""
    made = []
    for index in range(count):
        genre = GENRES[index % len(GENRES)]
        prompt = f"{rng.choice(MOODS)} {genre.name} in {rng.choice(KEYS)} {rng.choice(EXTRAS)}".strip()
        song = composer.compose(composer.SongRequest(prompt, bars=8, seed=index))
        metadata = song_metadata(song_info(song.midi, song.metadata.to_dict()).info)  # as the gateway keeps it
        made.append((prompt, metadata, describe("compose", prompt, metadata, song.midi, None).sound_vector))
    return made


def items(count: int, made: list[tuple[str, dict[str, Any], Any]], rng: random.Random) -> list[NewItem]:
    """`count` items: each a prompt of its own over one of the songs' metadata and sound."""
    kept = []
    for index in range(count):
        _, metadata, sound = made[index % len(made)]
        prompt = f"{rng.choice(MOODS)} {metadata['genre']} {rng.choice(EXTRAS)}".strip()
        description = describe("compose", prompt, metadata, None, None)
        kept.append(
            NewItem(
                owner="",
                kind="compose",
                request={"prompt": prompt},
                prompt=prompt,
                metadata=metadata,
                timings={"total": 1.0},
                description=description.text,
                text_vector=description.text_vector,
                sound_vector=sound,
                files=[],
            )
        )
    return kept


async def timed(work: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    await work()  # warm: connections, caches
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        await work()
        times.append((time.perf_counter() - began) * 1000)
    return times


def figures(name: str, times: list[float]) -> str:
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[18]
    verdict = "ok" if p95 < TARGET_MS else "OVER"
    return f"{name:<44} {p50:8.1f} {p95:8.1f}   {TARGET_MS / p95:5.1f}x  {verdict}"


async def run(count: int, runs: int, url: str, folder: Path) -> None:
    rng = random.Random(17)
    began = time.perf_counter()
    made = songs(100, rng)
    kept = items(count, made, rng)
    print(f"described {count} items ({len(made)} composed songs) in {time.perf_counter() - began:.1f} s")

    store = await LibraryStore.open(url, ContentStore(folder / "library"))
    try:
        began = time.perf_counter()
        ids: list[str] = []
        for start in range(0, len(kept), 8):  # as many at once as the store has connections
            ids += await asyncio.gather(*(store.add(item) for item in kept[start : start + 8]))
        print(f"inserted {len(ids)} items in {time.perf_counter() - began:.1f} s")

        now = datetime.now(UTC)
        searches = {
            "search 'dark trap with heavy 808s'": parse_query("dark trap with heavy 808s", now),
            "search 'chill lofi in A minor last week'": parse_query("chill lofi in A minor last week", now),
            "search 'piano' --bpm 80-130 --since 7d": with_filters(
                parse_query("piano", now), bpm="80-130", since="7d", now=now
            ),
            "search (no words, no filters: all 10,000)": parse_query("", now),
        }
        vectors = {name: embed_query(query.words) for name, query in searches.items()}
        embed_times = [0.0] * runs
        for index in range(runs):
            began = time.perf_counter()
            embed_query("dark trap with heavy 808s")
            embed_times[index] = (time.perf_counter() - began) * 1000
        print(f"\n{'store, 20 best of ' + str(count) + ' items':<44} {'p50 ms':>8} {'p95 ms':>8}   target/p95")
        for name, query in searches.items():
            search = functools.partial(store.search, "", query, vectors[name], 20, 0)
            print(figures(name, await timed(search, runs)))
        seed = ids[len(ids) // 2]
        print(figures("similar ID", await timed(lambda: store.similar("", seed, 20, 0), runs)))
        print(figures("embed_query (the query's words, in the gateway)", embed_times))
        load, cores = os.getloadavg()[0], os.cpu_count()
        print(f"(load average {load:.1f} on {cores} cores while measuring: figures are slower by about that ratio)")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="library-bench-") as folder, running_postgres(Path(folder) / "pg") as url:
        asyncio.run(run(args.items, args.runs, url, Path(folder)))
    sys.exit(0)


if __name__ == "__main__":
    main()
