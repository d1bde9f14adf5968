"""library.store against a real PostgreSQL (the tests' own cluster, as `dgx-music serve` runs it): migrations,
owners kept apart, filters, ranking, tags, pins, deletion of files no item holds, retention and the size limit."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest

from gateway.artifacts import ContentStore
from library.query import Query
from library.store import ItemFile, ItemNotFound, LibraryStore, NewItem, Vector, migrations

DIMENSIONS = 8


def unit(*values: float) -> Vector:
    vector = np.zeros(DIMENSIONS, np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


@pytest.fixture
async def store(postgres_url: str, tmp_path: Path) -> AsyncIterator[LibraryStore]:
    """A store in a database of its own (created for the test, dropped after)."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    url = postgres_url.replace("/postgres?", f"/{database}?")
    opened = await LibraryStore.open(url, ContentStore(tmp_path / "library"))
    try:
        yield opened
    finally:
        await opened.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {database}")


def new_item(
    files: ContentStore,
    *,
    owner: str = "",
    kind: str = "compose",
    genre: str = "trap",
    key: str = "G minor",
    bpm: float = 140,
    text: tuple[float, ...] = (1, 0),
    sound: tuple[float, ...] | None = None,
    description: str = "dark trap beat",
    content: bytes = b"MThd song",
) -> NewItem:
    stored = files.put(content)
    return NewItem(
        owner=owner,
        kind=kind,
        request={"prompt": description},
        prompt=description,
        metadata={"genre": genre, "key": key, "bpm": bpm, "meter": "4/4"},
        timings={"total": 0.5},
        description=description,
        text_vector=unit(*text),
        sound_vector=None if sound is None else unit(*sound),
        files=[ItemFile("song.mid", "audio/midi", stored.sha256, stored.size)],
    )


async def test_migrations_are_applied_once_even_by_stores_opening_together(store: LibraryStore) -> None:
    assert await store.migrate() == []  # open() applied them all
    again = await asyncio.gather(*(store.migrate() for _ in range(3)))
    assert again == [[], [], []]
    async with store.pool.connection() as connection:
        rows = await (await connection.execute("SELECT version FROM schema_migrations ORDER BY version")).fetchall()
    assert [row[0] for row in rows] == [version for version, _, _ in migrations()]


async def test_items_added_together_read_back_each_with_its_own_files(store: LibraryStore) -> None:
    items = [new_item(store.files, owner="carol", genre=genre, content=genre.encode()) for genre in ("trap", "house")]
    first, second = await store.add_many(items)
    assert (await store.get("carol", first)).genre == "trap"
    kept = await store.get("carol", second)
    assert kept.genre == "house"
    assert [store.files.read(file.sha256) for file in kept.files] == [b"house"]
    assert await store.add_many([]) == []


async def test_an_item_reads_back_as_it_was_kept_and_only_by_its_owner(store: LibraryStore) -> None:
    item_id = await store.add(new_item(store.files, owner="alice"))
    item = await store.get("alice", item_id)
    assert (item.kind, item.prompt, item.metadata["key"], item.pinned, item.tags) == (
        "compose",
        "dark trap beat",
        "G minor",
        False,
        [],
    )
    assert item.files[0].name == "song.mid"
    assert store.files.read(item.files[0].sha256) == b"MThd song"
    assert item.size == len(b"MThd song")
    with pytest.raises(ItemNotFound):
        await store.get("bob", item_id)
    assert await store.page("bob", 10, 0) == []
    assert [found.id for found in await store.search("bob", Query(words=""), unit(1), 10, 0)] == []


async def test_search_filters_then_ranks_by_similarity_and_words(store: LibraryStore) -> None:
    near = await store.add(new_item(store.files, text=(1, 0.1), description="dark trap beat", content=b"a"))
    far = await store.add(new_item(store.files, text=(0, 1), description="bright trap loop", content=b"b"))
    house = await store.add(
        new_item(store.files, genre="house", key="C major", bpm=124, text=(1, 0), description="house", content=b"c")
    )
    everything = await store.search("", Query(words="dark"), unit(1), 10, 0)
    assert everything[0].id == near  # closest, and holds the word
    assert everything[0].score > everything[-1].score
    trap = await store.search("", Query(words="", genres=("trap",)), unit(1), 10, 0)
    assert {item.id for item in trap} == {near, far}
    tempo = await store.search("", Query(words="", bpm_min=120, bpm_max=130), unit(1), 10, 0)
    assert [item.id for item in tempo] == [house]
    keyed = await store.search("", Query(words="", key="G minor"), unit(0, 1), 10, 0)
    assert [item.id for item in keyed] == [far, near]
    later = await store.search("", Query(words="", since=datetime.now(UTC) + timedelta(hours=1)), unit(1), 10, 0)
    assert later == []
    pages = [await store.search("", Query(words=""), unit(1), 1, offset) for offset in range(4)]
    assert [len(page) for page in pages] == [1, 1, 1, 0]


async def test_similar_ranks_by_sound_and_description_and_leaves_the_item_out(store: LibraryStore) -> None:
    seed = await store.add(new_item(store.files, text=(1, 0), sound=(1, 0, 0), content=b"a"))
    alike = await store.add(new_item(store.files, text=(1, 0.2), sound=(1, 0.1, 0), content=b"b"))
    other = await store.add(new_item(store.files, text=(0.2, 1), sound=(0, 0, 1), content=b"c"))
    found = await store.similar("", seed, 10, 0)
    assert [item.id for item in found] == [alike, other]
    with pytest.raises(ItemNotFound):
        await store.similar("someone else", seed, 10, 0)


async def test_tags_and_pins_change_only_the_owners_item(store: LibraryStore) -> None:
    item_id = await store.add(new_item(store.files, owner="alice"))
    tagged = await store.tag("alice", item_id, ["keeper", "dark"], [])
    assert tagged.tags == ["dark", "keeper"]
    assert (await store.tag("alice", item_id, [], ["dark"])).tags == ["keeper"]
    found = await store.search("alice", Query(words="", tags=("keeper",)), unit(1), 10, 0)
    assert [item.id for item in found] == [item_id]
    assert (await store.pin("alice", item_id, True)).pinned
    with pytest.raises(ItemNotFound):
        await store.tag("bob", item_id, ["mine"], [])
    with pytest.raises(ItemNotFound):
        await store.pin("bob", item_id, False)


async def test_deleting_keeps_files_another_item_holds(store: LibraryStore) -> None:
    first = await store.add(new_item(store.files, content=b"shared"))
    second = await store.add(new_item(store.files, content=b"shared"))
    digest = (await store.get("", first)).files[0].sha256
    with pytest.raises(ItemNotFound):
        await store.delete("someone else", first)
    await store.delete("", first)
    assert digest in store.files
    with pytest.raises(ItemNotFound):
        await store.get("", first)
    with pytest.raises(ItemNotFound):
        await store.delete("", first)
    await store.delete("", second)
    assert digest not in store.files


async def test_limits_take_the_oldest_unpinned_items_first(store: LibraryStore) -> None:
    ids = [await store.add(new_item(store.files, content=bytes([n]) * 100)) for n in range(4)]
    await store.pin("", ids[0], True)
    async with store.pool.connection() as connection:  # the first two are a month old
        await connection.execute(
            "UPDATE library_items SET created = now() - interval '30 days' WHERE id = ANY(%s)", (ids[:2],)
        )
    assert await store.enforce_limits(timedelta(days=7), None) == 1  # the old unpinned one
    assert {item.id for item in await store.page("", 10, 0)} == {ids[0], ids[2], ids[3]}
    assert await store.enforce_limits(None, 250) == 1  # 300 bytes kept: the oldest unpinned goes
    assert {item.id for item in await store.page("", 10, 0)} == {ids[0], ids[3]}
    assert await store.total_bytes() == 200
    assert await store.enforce_limits(None, 50) == 1  # the pinned one stays, even over the limit
    assert [item.id for item in await store.page("", 10, 0)] == [ids[0]]
