"""The library's store: items (one finished result each) in PostgreSQL, their files' bytes in a ContentStore.

Every read and write names the item's owner: a caller finds only its own items, and another caller's id reads as
unknown. Searching filters in SQL (key, tempo, genre, kind, tags, time, and the words of the query against the
items' descriptions), then ranks what is left by vector similarity in the gateway, on vectors it keeps in memory
(VectorCache): pgvector is not packaged for Debian 12, and 10,000 vectors rank in a millisecond of numpy."""

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from gateway.artifacts import ContentStore
from library.query import Query
from library.ranking import best

Vector = npt.NDArray[np.float32]
Rows = npt.NDArray[np.intp]
# Held while migrations run, so that gateways starting together apply each migration once.
_MIGRATION_LOCK = 0x6467786D75736963  # "dgxmusic"
# What a text match adds to a vector's score (cosine, -1..1): items that hold the query's words come first.
_WORDS_WEIGHT = 0.5


class ItemNotFound(LookupError):
    """No item of the caller's has this id (none ever, deleted, or another caller's)."""


@dataclasses.dataclass(frozen=True)
class ItemFile:
    name: str  # e.g. "song.mid", "mix.flac", "stems/piano.flac"
    media_type: str
    sha256: str
    size: int


@dataclasses.dataclass(frozen=True)
class NewItem:
    """What the gateway keeps of one finished result."""

    owner: str
    kind: str
    request: dict[str, Any]
    prompt: str
    metadata: dict[str, Any]
    timings: dict[str, float]
    description: str
    text_vector: Vector
    sound_vector: Vector | None
    files: Sequence[ItemFile]


@dataclasses.dataclass(frozen=True)
class Item:
    id: str
    owner: str
    kind: str
    created: datetime
    request: dict[str, Any]
    prompt: str
    metadata: dict[str, Any]
    timings: dict[str, float]
    tags: list[str]
    pinned: bool
    size: int
    description: str
    files: list[ItemFile]
    score: float = 0.0  # how well it matched a search (higher first); 0 outside searches

    @property
    def genre(self) -> str | None:
        return self.metadata.get("genre")


_NEWEST = "created DESC, seq DESC"  # the candidates' order: ties in ranking go to the newer
_ITEM_COLUMNS = "id, owner, kind, created, request, prompt, metadata, timings, tags, pinned, size_bytes, description"


def _item_row(item_id: str, item: NewItem) -> tuple[Any, ...]:
    """An item's row of library_items, in the INSERT's column order."""
    metadata = item.metadata
    bpm = metadata.get("bpm")
    return (
        item_id,
        item.owner,
        item.kind,
        Jsonb(item.request),
        item.prompt,
        Jsonb(metadata),
        metadata.get("genre") or None,
        metadata.get("key") or None,
        float(bpm) if bpm else None,
        metadata.get("meter") or None,
        Jsonb(item.timings),
        sum(file.size for file in item.files),
        item.description,
        _vector_bytes(item.text_vector),
        _vector_bytes(item.sound_vector),
    )


def _vector_bytes(vector: Vector | None) -> bytes | None:
    return None if vector is None else np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, SQL) of each migration, in order: library/migrations/NNNN_name.sql."""
    found = []
    for entry in resources.files("library").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version, _, name = entry.name.removesuffix(".sql").partition("_")
            found.append((int(version), name, entry.read_text()))
    return sorted(found)


class VectorCache:
    """The items' vectors in memory, each row by the item's seq: an item's vectors never change, so a cached row is
    never stale, and the rows a search lacks (items another gateway wrote, or this one before a restart) are read
    once. Moving thousands of vectors out of PostgreSQL for every search would cost more than ranking them."""

    def __init__(self) -> None:
        self.row_of_seq = np.full(0, -1, np.intp)  # seq -> row; -1: not cached
        self.ids: list[str] = []
        self.text = np.zeros((0, 0), np.float32)
        self.sound = np.zeros((0, 0), np.float32)
        self.has_sound = np.zeros(0, bool)

    def similarity(self, query_vector: Vector) -> Vector:
        """The cosine similarity of every cached description to the query's (all are unit vectors, library.describe):
        one product over the whole contiguous matrix, which candidates then index, costs a fraction of gathering
        the candidates' rows first."""
        if not len(self.ids):
            return np.zeros(0, np.float32)
        return self.text @ np.asarray(query_vector, np.float32)

    async def rows(self, connection: AsyncConnection[Any], seqs: Sequence[int]) -> Rows:
        """The rows of the items `seqs` (read from the database where missing); -1 for an item deleted meanwhile."""
        wanted = np.fromiter(seqs, np.intp, len(seqs))
        known = wanted < len(self.row_of_seq)
        known[known] = self.row_of_seq[wanted[known]] >= 0
        missing = wanted[~known].tolist()
        if missing:
            found = await (
                await connection.cursor(binary=True).execute(
                    "SELECT seq, id, text_vector, sound_vector FROM library_items WHERE seq = ANY(%s)", (missing,)
                )
            ).fetchall()
            self._add(found)
        return self.row_of_seq[wanted]

    def _add(self, found: list[tuple[int, str, bytes, bytes | None]]) -> None:
        start = len(self.ids)
        texts = np.frombuffer(b"".join(row[2] for row in found), np.float32).reshape(len(found), -1)
        sounds = [row[3] for row in found]
        sound_dims = next((len(sound) // 4 for sound in sounds if sound is not None), self.sound.shape[1])
        if start == 0:
            self.text = np.zeros((0, texts.shape[1]), np.float32)
        if self.sound.shape[1] != sound_dims:  # the first sound vector seen
            self.sound = np.zeros((start, sound_dims), np.float32)
        new_sounds = np.zeros((len(found), sound_dims), np.float32)
        for at, sound in enumerate(sounds):
            if sound is not None:
                new_sounds[at] = np.frombuffer(sound, np.float32)
        # Appending copies; searches read far more often than items arrive.
        self.text = np.concatenate([self.text, texts])
        self.sound = np.concatenate([self.sound, new_sounds])
        self.has_sound = np.concatenate([self.has_sound, np.array([s is not None for s in sounds], bool)])
        seqs = np.fromiter((row[0] for row in found), np.intp, len(found))
        if seqs.max() >= len(self.row_of_seq):
            grown = np.full(max(int(seqs.max()) + 1, 2 * len(self.row_of_seq)), -1, np.intp)
            grown[: len(self.row_of_seq)] = self.row_of_seq
            self.row_of_seq = grown
        self.row_of_seq[seqs] = np.arange(start, start + len(found))
        self.ids += [row[1] for row in found]


class LibraryStore:
    def __init__(self, pool: AsyncConnectionPool, files: ContentStore) -> None:
        self.pool = pool
        self.files = files
        self.vectors = VectorCache()

    @classmethod
    async def open(cls, url: str, files: ContentStore, *, wait_seconds: float = 5.0) -> "LibraryStore":
        """A store on the database at `url`, its migrations applied; psycopg.Error when it cannot be reached."""
        pool = AsyncConnectionPool(
            url, min_size=1, max_size=8, timeout=wait_seconds, open=False, kwargs={"autocommit": True}
        )
        await pool.open(wait=True, timeout=wait_seconds)
        store = cls(pool, files)
        try:
            await store.migrate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self.pool.close()

    async def migrate(self) -> list[int]:
        """Applies the migrations not applied yet, in order, in one transaction; the versions it applied."""
        applied = []
        async with self.pool.connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                row[0] for row in await (await connection.execute("SELECT version FROM schema_migrations")).fetchall()
            }
            for version, name, sql in migrations():
                if version in done:
                    continue
                await connection.execute(sql.encode())  # bytes: run as it is written (no parameters)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                )
                applied.append(version)
        return applied

    # -- writing -----------------------------------------------------------------------------------------------

    async def add(self, item: NewItem) -> str:
        """Keeps an item (its files already in the content store); its id."""
        return (await self.add_many([item]))[0]

    async def add_many(self, items: Sequence[NewItem]) -> list[str]:
        """Keeps items in one transaction (one round of statements, however many); their ids, in order."""
        ids = [uuid.uuid4().hex for _ in items]
        async with self.pool.connection() as connection, connection.transaction(), connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO library_items (id, owner, kind, request, prompt, metadata, genre, musical_key, bpm, meter,"
                " timings, size_bytes, description, text_vector, sound_vector)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [_item_row(item_id, item) for item_id, item in zip(ids, items, strict=True)],
            )
            await cursor.executemany(
                "INSERT INTO library_files (item_id, name, media_type, sha256, size_bytes) VALUES (%s, %s, %s, %s, %s)",
                [
                    (item_id, f.name, f.media_type, f.sha256, f.size)
                    for item_id, item in zip(ids, items, strict=True)
                    for f in item.files
                ],
            )
        return ids

    async def tag(self, owner: str, item_id: str, add: Sequence[str], remove: Sequence[str]) -> Item:
        async with self.pool.connection() as connection:
            updated = await connection.execute(
                "UPDATE library_items SET tags = ARRAY(SELECT DISTINCT t FROM unnest(tags || %s::text[]) AS t"
                " WHERE NOT t = ANY(%s::text[]) ORDER BY t) WHERE id = %s AND owner = %s",
                (list(add), list(remove), item_id, owner),
            )
            if updated.rowcount == 0:
                raise ItemNotFound(item_id)
        return await self.get(owner, item_id)

    async def pin(self, owner: str, item_id: str, pinned: bool) -> Item:
        async with self.pool.connection() as connection:
            updated = await connection.execute(
                "UPDATE library_items SET pinned = %s WHERE id = %s AND owner = %s", (pinned, item_id, owner)
            )
            if updated.rowcount == 0:
                raise ItemNotFound(item_id)
        return await self.get(owner, item_id)

    async def delete(self, owner: str, item_id: str) -> None:
        """Deletes the item, and the files no other item holds."""
        if not await self._delete("id = %s AND owner = %s", (item_id, owner)):
            raise ItemNotFound(item_id)

    async def enforce_limits(self, retention: timedelta | None, max_bytes: int | None) -> int:
        """Deletes unpinned items, oldest first: those older than `retention`, then as many as it takes to bring
        the files kept under `max_bytes` (pinned items count, but stay). How many it deleted."""
        deleted = 0
        if retention is not None:
            deleted += len(await self._delete("NOT pinned AND created < now() - %s", (retention,)))
        if max_bytes is not None:
            over = (
                "id IN (SELECT id FROM (SELECT id, sum(size_bytes) OVER (ORDER BY created DESC, id DESC) AS newer"
                " FROM library_items WHERE NOT pinned) AS unpinned"
                " WHERE newer + (SELECT coalesce(sum(size_bytes), 0) FROM library_items WHERE pinned) > %s)"
            )
            deleted += len(await self._delete(over, (max_bytes,)))
        return deleted

    async def _delete(self, where: str, params: tuple[Any, ...]) -> list[str]:
        """Deletes the items `where` says, then the blobs of theirs that no item holds any more; their ids."""
        async with self.pool.connection() as connection:
            async with connection.transaction():
                rows = await (
                    await connection.execute(
                        f"WITH gone AS (DELETE FROM library_items WHERE {where} RETURNING id)"
                        " SELECT gone.id, array_remove(array_agg(f.sha256), NULL) FROM gone"
                        " LEFT JOIN library_files AS f ON f.item_id = gone.id GROUP BY gone.id",
                        params,
                    )
                ).fetchall()
            digests = sorted({digest for _, held in rows for digest in held})
            if digests:
                still_held = await (
                    await connection.execute(
                        "SELECT DISTINCT sha256 FROM library_files WHERE sha256 = ANY(%s)", (digests,)
                    )
                ).fetchall()
                for digest in set(digests) - {row[0] for row in still_held}:
                    self.files.delete(digest)
        return [row[0] for row in rows]

    # -- reading -----------------------------------------------------------------------------------------------

    async def get(self, owner: str, item_id: str) -> Item:
        items = await self._items("id = %s AND owner = %s", (item_id, owner))
        if not items:
            raise ItemNotFound(item_id)
        return items[0]

    async def page(self, owner: str, limit: int, offset: int) -> list[Item]:
        """The owner's items, newest first."""
        return await self._items("owner = %s", (owner,), order=_NEWEST, limit=limit, offset=offset)

    async def total_bytes(self) -> int:
        async with self.pool.connection() as connection:
            row = await (await connection.execute("SELECT coalesce(sum(size_bytes), 0) FROM library_items")).fetchone()
        return int(row[0]) if row else 0

    async def search(self, owner: str, query: Query, query_vector: Vector, limit: int, offset: int) -> list[Item]:
        """The owner's items that pass the query's filters, best first: by the similarity of their description to
        the query's words, those that hold the words themselves (full text) raised above the rest."""
        where, params = _filters(owner, query)
        async with self.pool.connection() as connection:
            # One row: the candidates, newest first, and whether each holds the query's words.
            row = await (
                await connection.cursor(binary=True).execute(
                    f"SELECT array_agg(seq ORDER BY {_NEWEST}), array_agg(%s AND words @@ q ORDER BY {_NEWEST})"
                    f" FROM library_items, plainto_tsquery('english', %s) AS q WHERE {where}",
                    (bool(query.words.strip()), query.words, *params),
                )
            ).fetchone()
            if row is None or not row[0]:
                return []
            candidates, matched_flags = row
            rows = await self.vectors.rows(connection, candidates)
        present = rows >= 0  # not deleted meanwhile
        rows, matched = rows[present], np.array(matched_flags, dtype=bool)[present]
        scores = self.vectors.similarity(query_vector)[rows] + np.where(matched, _WORDS_WEIGHT, 0).astype(np.float32)
        return await self._ranked(owner, rows, scores, limit, offset)

    async def similar(self, owner: str, item_id: str, limit: int, offset: int) -> list[Item]:
        """The owner's other items closest to the item: by the mean of their sounds' and their descriptions'
        similarity where both have a sound (MIDI and audio features), else by their descriptions'."""
        async with self.pool.connection() as connection:
            seed = await (
                await connection.execute("SELECT seq FROM library_items WHERE id = %s AND owner = %s", (item_id, owner))
            ).fetchone()
            if seed is None:
                raise ItemNotFound(item_id)
            row = await (
                await connection.cursor(binary=True).execute(
                    f"SELECT array_agg(seq ORDER BY {_NEWEST}) FROM library_items WHERE owner = %s AND id <> %s",
                    (owner, item_id),
                )
            ).fetchone()
            if row is None or not row[0]:
                return []
            [seed_row] = await self.vectors.rows(connection, [seed[0]])
            rows = await self.vectors.rows(connection, row[0])
        if seed_row < 0:  # deleted meanwhile
            raise ItemNotFound(item_id)
        rows = rows[rows >= 0]
        vectors = self.vectors
        scores = vectors.similarity(vectors.text[seed_row])[rows]
        if vectors.has_sound[seed_row]:
            # Where both have a sound, the mean of the two similarities.
            both = vectors.has_sound[rows]
            sounds = (vectors.sound @ vectors.sound[seed_row])[rows]
            scores[both] = (scores[both] + sounds[both]) / 2
        return await self._ranked(owner, rows, scores, limit, offset)

    async def _ranked(self, owner: str, rows: Rows, scores: Vector, limit: int, offset: int) -> list[Item]:
        """The items at cache `rows` (candidates, newest first) from the `offset`-th best `scores`: the higher
        first; on a tie the newer."""
        chosen = [(self.vectors.ids[rows[at]], float(scores[at])) for at in best(scores, limit, offset)]
        if not chosen:
            return []
        found = {
            item.id: item for item in await self._items("id = ANY(%s) AND owner = %s", ([c[0] for c in chosen], owner))
        }
        return [dataclasses.replace(found[item_id], score=score) for item_id, score in chosen if item_id in found]

    async def _items(
        self, where: str, params: tuple[Any, ...], *, order: str = "id", limit: int | None = None, offset: int = 0
    ) -> list[Item]:
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        async with self.pool.connection() as connection:
            cursor = connection.cursor(row_factory=dict_row)
            rows = await (
                await cursor.execute(
                    f"SELECT {_ITEM_COLUMNS} FROM library_items WHERE {where} ORDER BY {order}{page}", params
                )
            ).fetchall()
            files: dict[str, list[ItemFile]] = {row["id"]: [] for row in rows}
            if files:
                held = await (
                    await connection.execute(
                        "SELECT item_id, name, media_type, sha256, size_bytes FROM library_files"
                        " WHERE item_id = ANY(%s) ORDER BY item_id, name",
                        (list(files),),
                    )
                ).fetchall()
                for item_id, *file in held:
                    files[item_id].append(ItemFile(*file))
        return [
            Item(
                id=row["id"],
                owner=row["owner"],
                kind=row["kind"],
                created=row["created"],
                request=row["request"],
                prompt=row["prompt"],
                metadata=row["metadata"],
                timings=row["timings"],
                tags=list(row["tags"]),
                pinned=row["pinned"],
                size=row["size_bytes"],
                description=row["description"],
                files=files[row["id"]],
            )
            for row in rows
        ]


def _filters(owner: str, query: Query) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition (and its parameters) of the query's filters on the owner's items."""
    conditions: list[str] = ["owner = %s"]
    params: list[Any] = [owner]
    if query.key is not None:
        conditions.append("musical_key = %s")
        params.append(query.key)
    if query.bpm_min is not None:
        conditions.append("bpm >= %s")
        params.append(query.bpm_min)
    if query.bpm_max is not None:
        conditions.append("bpm <= %s")
        params.append(query.bpm_max)
    if query.genres:
        conditions.append("genre = ANY(%s)")
        params.append(list(query.genres))
    if query.kinds:
        conditions.append("kind = ANY(%s)")
        params.append(list(query.kinds))
    if query.tags:
        conditions.append("tags @> %s")
        params.append(list(query.tags))
    if query.since is not None:
        conditions.append("created >= %s")
        params.append(query.since)
    if query.until is not None:
        conditions.append("created < %s")
        params.append(query.until)
    return " AND ".join(conditions), tuple(params)
