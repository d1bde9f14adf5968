"""dgxmusic.v1.LibraryService: the library (gateway.library, library.store) as its callers see it. Each caller sees
only its own items (its API key's; without keys, the loopback default, everyone's are one); another caller's id
reads as unknown. Queries are read by library.query, whose errors name the field."""

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import TypeVar

import grpc

from deploy.settings import Settings
from dgxmusic.v1 import library_pb2 as lib
from dgxmusic.v1 import library_pb2_grpc as lib_grpc
from gateway.artifacts import CorruptArtifact
from gateway.errors import ApiError, invalid_argument
from gateway.library import LIBRARY_FAILURES, Library
from gateway.scope import RequestScope, streaming_rpc, unary_rpc
from gateway.service import MusicService
from library.query import Query, QueryError, parse_query, with_filters
from library.store import Item, ItemNotFound

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
MAX_QUERY_CHARS = 1000
_ITEM_ID = re.compile(r"[0-9a-f]{32}")
_TAG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
T = TypeVar("T")


def checked_id(item_id: str) -> str:
    if not _ITEM_ID.fullmatch(item_id):
        raise invalid_argument("id", "not a library item id (32 hexadecimal digits)")
    return item_id


def page_of(page_size: int, page_token: str) -> tuple[int, int]:
    """(limit, offset) of a page request; the token is the offset the answer before gave."""
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise invalid_argument("page_size", f"from 1 to {MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE}")
    offset = 0
    if page_token:
        if not page_token.isdigit() or len(page_token) > 9:
            raise invalid_argument("page_token", "not a token this RPC gave")
        offset = int(page_token)
    return page_size or DEFAULT_PAGE_SIZE, offset


def next_token(found: list[Item], limit: int, offset: int) -> str:
    """The token of the next page (the store was asked for one item more than the page: it says there is one)."""
    return str(offset + limit) if len(found) > limit else ""


def search_query(request: lib.SearchLibraryRequest, now: datetime) -> Query:
    """The request's text and filters as one query; INVALID_ARGUMENT naming the field that is malformed."""
    if len(request.query) > MAX_QUERY_CHARS:
        raise invalid_argument("query", f"at most {MAX_QUERY_CHARS} characters")
    try:
        return with_filters(
            parse_query(request.query, now),
            key=request.key or None,
            bpm=request.bpm or None,
            genre=request.genre or None,
            since=request.since or None,
            tag=",".join(request.tags) or None,
            kind=",".join(request.kinds) or None,
            now=now,
        )
    except QueryError as exc:
        field = {"tag": "tags", "kind": "kinds"}.get(exc.field, exc.field)
        raise invalid_argument(field, str(exc)) from exc


def checked_tags(field: str, tags: list[str]) -> list[str]:
    for tag in tags:
        if not _TAG.fullmatch(tag):
            raise invalid_argument(
                field, f"{tag[:80]!r} is not a tag (lower case letters, digits, '-', '_', '.'; 1-64)"
            )
    return tags


def item_message(item: Item) -> lib.LibraryItem:
    message = lib.LibraryItem(
        id=item.id,
        kind=item.kind,
        prompt=item.prompt,
        request_json=json.dumps(item.request, sort_keys=True),
        genre=item.metadata.get("genre") or "",
        key=item.metadata.get("key") or "",
        bpm=float(item.metadata.get("bpm") or 0),
        meter=item.metadata.get("meter") or "",
        metadata_json=json.dumps(item.metadata, sort_keys=True),
        timings_json=json.dumps(item.timings, sort_keys=True),
        tags=item.tags,
        pinned=item.pinned,
        size_bytes=item.size,
        description=item.description,
        score=item.score,
        files=[
            lib.LibraryFile(name=f.name, media_type=f.media_type, sha256=f.sha256, size_bytes=f.size)
            for f in item.files
        ],
    )
    message.created.FromDatetime(item.created)
    return message


def owner_of(scope: RequestScope) -> str:
    return scope.key_name or ""


class LibraryService(lib_grpc.LibraryServiceServicer):  # type: ignore[misc]  # untyped generated base
    def __init__(self, settings: Settings, library: Library, music: MusicService) -> None:
        self.settings = settings
        self.library = library
        # Read by scope's RPC wrappers: the same keys and slots as MusicService's calls; nothing here makes music,
        # so no call spends quota.
        self.gate = music.gate
        self.admission = music.admission
        self.quota = music.quota

    async def _reading(self, work: Awaitable[T]) -> T:
        """The store's answer; NOT_FOUND for an item the caller has not, UNAVAILABLE when the database fails."""
        try:
            return await work
        except ItemNotFound:
            raise ApiError(grpc.StatusCode.NOT_FOUND, "no such item in your library") from None
        except LIBRARY_FAILURES as exc:
            self.library.failed("library_read_failed", exc)
            raise ApiError(grpc.StatusCode.UNAVAILABLE, "the library is unavailable: retry later") from None

    @unary_rpc("SearchLibrary", quota=False)
    async def SearchLibrary(self, request: lib.SearchLibraryRequest, scope: RequestScope) -> lib.SearchLibraryResponse:
        limit, offset = page_of(request.page_size, request.page_token)
        query = search_query(request, datetime.now(UTC))
        store = await self.library.store()
        from library.describe import embed_query  # loads the text model at first use

        vector = await asyncio.to_thread(embed_query, query.words)
        found = await self._reading(store.search(owner_of(scope), query, vector, limit + 1, offset))
        scope.log_fields["found"] = min(len(found), limit)
        return lib.SearchLibraryResponse(
            items=[item_message(item) for item in found[:limit]], next_page_token=next_token(found, limit, offset)
        )

    @unary_rpc("SimilarItems", quota=False)
    async def SimilarItems(self, request: lib.SimilarItemsRequest, scope: RequestScope) -> lib.SimilarItemsResponse:
        item_id = checked_id(request.id)
        limit, offset = page_of(request.page_size, request.page_token)
        store = await self.library.store()
        found = await self._reading(store.similar(owner_of(scope), item_id, limit + 1, offset))
        return lib.SimilarItemsResponse(
            items=[item_message(item) for item in found[:limit]], next_page_token=next_token(found, limit, offset)
        )

    @unary_rpc("GetItem", quota=False)
    async def GetItem(self, request: lib.GetItemRequest, scope: RequestScope) -> lib.GetItemResponse:
        item_id = checked_id(request.id)
        store = await self.library.store()
        return lib.GetItemResponse(item=item_message(await self._reading(store.get(owner_of(scope), item_id))))

    @streaming_rpc("GetItemFile", quota=False)
    async def GetItemFile(
        self, request: lib.GetItemFileRequest, scope: RequestScope
    ) -> AsyncIterator[lib.GetItemFileResponse]:
        item_id = checked_id(request.id)
        store = await self.library.store()
        item = await self._reading(store.get(owner_of(scope), item_id))
        held = {file.name: file for file in item.files}
        if request.name not in held:
            names = ", ".join(sorted(held)) or "none"
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"the item has no file {request.name[:200]!r} (it has: {names})")
        try:
            data = await asyncio.to_thread(store.files.read, held[request.name].sha256)
        except CorruptArtifact as exc:
            raise ApiError(grpc.StatusCode.DATA_LOSS, f"the file {request.name!r} is damaged or gone: {exc}") from None
        chunk = self.settings.chunk_bytes
        for start in range(0, max(len(data), 1), chunk):
            yield lib.GetItemFileResponse(data=data[start : start + chunk], last=start + chunk >= len(data))

    @unary_rpc("ListItems", quota=False)
    async def ListItems(self, request: lib.ListItemsRequest, scope: RequestScope) -> lib.ListItemsResponse:
        limit, offset = page_of(request.page_size, request.page_token)
        store = await self.library.store()
        found = await self._reading(store.page(owner_of(scope), limit + 1, offset))
        return lib.ListItemsResponse(
            items=[item_message(item) for item in found[:limit]], next_page_token=next_token(found, limit, offset)
        )

    @unary_rpc("TagItem", quota=False)
    async def TagItem(self, request: lib.TagItemRequest, scope: RequestScope) -> lib.TagItemResponse:
        item_id = checked_id(request.id)
        add, remove = checked_tags("add", list(request.add)), checked_tags("remove", list(request.remove))
        store = await self.library.store()
        item = await self._reading(store.tag(owner_of(scope), item_id, add, remove))
        return lib.TagItemResponse(item=item_message(item))

    @unary_rpc("PinItem", quota=False)
    async def PinItem(self, request: lib.PinItemRequest, scope: RequestScope) -> lib.PinItemResponse:
        item_id = checked_id(request.id)
        store = await self.library.store()
        item = await self._reading(store.pin(owner_of(scope), item_id, request.pinned))
        return lib.PinItemResponse(item=item_message(item))

    @unary_rpc("DeleteItem", quota=False)
    async def DeleteItem(self, request: lib.DeleteItemRequest, scope: RequestScope) -> lib.DeleteItemResponse:
        item_id = checked_id(request.id)
        store = await self.library.store()
        await self._reading(store.delete(owner_of(scope), item_id))
        scope.log_fields["item_id"] = item_id
        return lib.DeleteItemResponse()
