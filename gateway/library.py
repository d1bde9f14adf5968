"""The gateway's side of the library: each finished result (the events a call recorded, as the cache records them)
becomes an item - its request, metadata, timings, a description and its vectors (library.describe), and its files
(MIDI, the mix, stems, transcriptions) in the content store - written in the background. The library is never a
dependency of a call: when PostgreSQL is away the gateway logs it, counts it, and answers on."""

import asyncio
import contextlib
import dataclasses
import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
import psycopg_pool
import structlog
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from deploy.settings import Settings
from dgxmusic.audio import AudioAssembler, FloatAudio
from dgxmusic.v1 import music_service_pb2 as pb
from gateway import metrics
from gateway.artifacts import ContentStore
from gateway.background import in_background
from gateway.cache import BlobRef, Recording, RedisGuard
from gateway.errors import ApiError
from gateway.scope import STAGE_NAMES
from library.store import ItemFile, LibraryStore, NewItem

log = structlog.get_logger(__name__)

# The RPCs whose results are kept, as the library names their kind.
KINDS = {
    "Compose": "compose",
    "GenerateMidi": "generate_midi",
    "Render": "render",
    "Transcribe": "transcribe",
    "Separate": "separate",
    "GenerateAudio": "generate_audio",
}
MEDIA_TYPES = {
    ".mid": "audio/midi",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
}
# The writer waits this long after a result for others to write with it, and takes at most BATCH_ITEMS at once; it
# sends the describing process at most PART_BYTES of results at once (a batch of composes is hundreds of MB).
LINGER_SECONDS = 0.25
BATCH_ITEMS = 64
PART_BYTES = 16 * 1024 * 1024
# How often a gateway applies retention and the size limit (they may be overshot by what is kept meanwhile).
LIMITS_EVERY_SECONDS = 60.0
# What the library's failures look like: the database (away, refusing, timing out) and the disk.
LIBRARY_FAILURES = (psycopg.Error, psycopg_pool.PoolTimeout, OSError, TimeoutError)


@dataclass(frozen=True)
class Recorded:
    """A streamed call's result as the cache recorded it (serialized events of the message `response` names), read
    once the cache's write of it (`after`) is done - from the blob that write made, if it made one - and let go
    then."""

    response: str  # the events' message, by its name in music_service_pb2
    recording: Recording
    after: "asyncio.Task[BlobRef | None] | None"


# A result: its events, or the recording of them.
Result = list[Message] | Recorded


@dataclass(frozen=True)
class Finished:
    """One finished call as the library keeps it."""

    method: str  # the RPC ("Compose", ...), or the job's kind ("compose", ...)
    owner: str  # the caller's API key's name; "" without keys
    # The call's message, or for an upload the options it was read into (a dataclass); read off the event loop,
    # as a request may carry a large MIDI or audio file.
    request: Message | Any
    prompt: str  # what the caller asked for in words ("" for Render, Transcribe, Separate)
    result: Result  # the result's events (all but progress and the summary)
    summary: pb.Summary


def request_fields(request: Message) -> dict[str, Any]:
    """The request as JSON, its byte fields (MIDI, audio) left out: they are large, and kept as files if at all."""
    copy = type(request)()
    copy.CopyFrom(request)
    _clear_bytes(copy)
    return json_format.MessageToDict(copy, preserving_proto_field_name=True)


def dataclass_fields(options: Any) -> dict[str, Any]:
    """A call's options read into a dataclass (an upload's), as JSON."""
    fields: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(options), default=str))
    return fields


def _clear_bytes(message: Message) -> None:
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_BYTES:
            message.ClearField(field.name)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for part in value if isinstance(value, Iterable) else [value]:
                if isinstance(part, Message):
                    _clear_bytes(part)


def timings(summary: pb.Summary) -> dict[str, float]:
    found = {STAGE_NAMES[timing.stage]: round(timing.seconds, 4) for timing in summary.stage_timings}
    return {**found, "total": round(summary.total_seconds, 4)}


def song_metadata(info: pb.SongInfo) -> dict[str, Any]:
    """What the composer said of a song: genre, key, bpm, meter, bars, instruments, sections, unknown words."""
    told = json.loads(info.metadata_json) if info.metadata_json else {}
    metadata = {
        "genre": info.genre,
        "key": info.key,
        "bpm": info.bpm,
        "meter": info.time_signature,
        "bars": info.bars,
        "duration_seconds": round(info.duration_seconds, 3),
        "instruments": [track.instrument for track in info.tracks if track.instrument],
        "sections": [section.name for section in info.sections],
        "unknown_words": list(told.get("unknown_words", [])),
    }
    return {name: value for name, value in metadata.items() if value not in ("", 0, [], None)}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name).strip(" .") or "stream"


@dataclass
class _Made:
    """What one result holds, sorted into the library's shape."""

    metadata: dict[str, Any]
    files: dict[str, bytes]  # by file name
    midi: bytes | None  # the song's MIDI (what describe hears); a transcription's, without one
    audio: tuple[FloatAudio, int] | None  # the mix (or the first stream), for describe


def _made(events: Iterable[Message]) -> _Made:
    metadata: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    midi = None
    assembler = AudioAssembler()
    transcriptions: dict[str, bytes] = {}
    for event in events:
        songs = event.songs if isinstance(event, pb.GenerateMidiResponse) else []
        kind = event.WhichOneof("event") if "event" in event.DESCRIPTOR.oneofs_by_name else None
        value: Any = getattr(event, kind) if kind else None  # the event's one field
        if kind == "midi":
            songs = [value]
        for song in songs:
            midi = song.midi
            files["song.mid"] = song.midi
            metadata = song_metadata(song.info)
        if kind == "audio_header":
            assembler.add_header(value)
        elif kind == "audio_chunk":
            assembler.add_chunk(value)
        elif kind == "transcription" and value is not None:
            transcriptions[value.stem_name] = value.midi
    audio = None
    for name in assembler.encoded:
        file_name = "mix" if name == "" else f"stems/{_safe(name)}"
        files[file_name + assembler.extension(name)] = assembler.file_bytes(name)
        if audio is None or name == "":
            audio = (assembler.samples(name), assembler.headers[name].sample_rate)
    for name, data in transcriptions.items():
        files["transcription.mid" if not name else f"transcriptions/{_safe(name)}.mid"] = data
        midi = midi or data
    return _Made(metadata, files, midi, audio)


class Library:
    """The library as the gateway uses it: the store once PostgreSQL answers (reached again after a failure, at
    most once per retry period), and the background writes of finished results."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.files = ContentStore(settings.library_dir)
        self.guard = RedisGuard(settings.redis_retry_seconds)
        self._store: LibraryStore | None = None
        self._opening = asyncio.Lock()
        self.linger_seconds = LINGER_SECONDS
        self._waiting: list[Finished] = []  # finished results not yet taken by the writer
        self._writing = 0  # results in the batch being written
        self._writer: asyncio.Task[None] | None = None
        self._flush = asyncio.Event()  # set: write what waits without lingering
        self._pool: ProcessPoolExecutor | None = None
        self._limits_due = 0.0  # when retention and the size limit are next applied

    @property
    def configured(self) -> bool:
        return self.settings.library_database_url is not None

    async def store(self) -> LibraryStore:
        """The store; UNAVAILABLE when the library is not configured or its database cannot be reached."""
        if self._store is not None:
            return self._store
        if not self.configured:
            raise ApiError(grpc.StatusCode.UNAVAILABLE, "this server keeps no library (library_database_url is unset)")
        async with self._opening:
            if self._store is None:
                if not self.guard.open:
                    raise ApiError(grpc.StatusCode.UNAVAILABLE, "the library is unavailable: retry later")
                assert self.settings.library_database_url is not None
                url = self.settings.library_database_url.get_secret_value()
                try:
                    self._store = await LibraryStore.open(
                        url, self.files, wait_seconds=self.settings.redis_timeout_seconds * 5
                    )
                except LIBRARY_FAILURES as exc:
                    self.failed("library_unavailable", exc)
                    raise ApiError(grpc.StatusCode.UNAVAILABLE, "the library is unavailable: retry later") from exc
        return self._store

    def failed(self, what: str, exc: BaseException) -> None:
        metrics.LIBRARY_FAILURES.inc()
        # Never the exception's text: psycopg's may quote the DSN, which holds a password.
        self.guard.failed(what, Exception(type(exc).__name__))

    def keep(self, finished: Finished) -> None:
        """Keeps a finished result in the background (the call's answer does not wait); failures are logged. Past
        `library_max_pending` results waiting, the result is not kept: a backlog must not grow without bound."""
        if not self.configured:
            return
        if len(self._waiting) + self._writing >= self.settings.library_max_pending:
            metrics.LIBRARY_NOT_KEPT.inc()
            log.warning("library_backlog_full", method=finished.method, pending=len(self._waiting) + self._writing)
            _let_go(finished)
            return
        self._waiting.append(finished)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())

    async def settled(self) -> None:
        """Writes what waits now, without lingering, and returns when it is written (a stopping gateway; tests)."""
        self._flush.set()
        try:
            while self._writer is not None and not self._writer.done():
                await asyncio.wait([self._writer])
        finally:
            self._flush.clear()

    def _describer(self) -> ProcessPoolExecutor:
        """The process results are described in, started at the first (spawned: the gateway runs threads), at the
        lowest CPU priority: keeping results is background work, never to slow the calls that make them."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=os.nice, initargs=(19,)
            )
        return self._pool

    async def close(self) -> None:
        """Finishes the writes in flight, then ends the describing process and closes the database's connections."""
        await self.settled()
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown)
            self._pool = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def _write_batches(self) -> None:
        """The one writer: waits `linger_seconds` for the results of a burst of calls to gather, then describes
        them and adds them in one transaction, until none wait. Per result, a write of its own cost the gateway
        more CPU than the call (a transaction, a trip to the describing process, a log line each)."""
        while self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush.wait(), self.linger_seconds)
            batch, self._waiting = self._waiting[:BATCH_ITEMS], self._waiting[BATCH_ITEMS:]
            self._writing = len(batch)
            try:
                await self._add(batch)
            except Exception:  # a batch the library cannot keep must not go unnoticed, nor stop the writer
                log.exception("library_batch_failed", results=len(batch))
                metrics.LIBRARY_FAILURES.inc()
            finally:
                self._writing = 0
                for finished in batch:
                    _let_go(finished)

    async def _add(self, batch: list[Finished]) -> None:
        cache_writes = [f.result.after for f in batch if isinstance(f.result, Recorded) and f.result.after is not None]
        if cache_writes:
            await asyncio.wait(cache_writes)  # one reader of a recording at a time
        try:
            store = await self.store()
        except ApiError:
            return  # logged and counted by store()
        try:
            works = await in_background(lambda: [self._work(finished) for finished in batch])
            items: list[NewItem] = []
            loop = asyncio.get_running_loop()
            for part in _parts(works):
                done = await loop.run_in_executor(self._describer(), _described_all, part)
                for work, described in zip(part, done, strict=True):
                    if isinstance(described, NewItem):
                        items.append(described)
                    else:  # a result the library cannot read must not go unnoticed, nor lose the others
                        log.error("library_item_unreadable", kind=work.kind, error=described)
                        metrics.LIBRARY_FAILURES.inc()
            if not items:
                return
            item_ids = await store.add_many(items)
            log.info("library_items_kept", items=[f"{item.kind}:{i}" for item, i in zip(items, item_ids, strict=True)])
            for item in items:
                metrics.LIBRARY_ITEMS.labels(item.kind).inc()
            if time.monotonic() >= self._limits_due:  # a query over every item: not after each batch
                self._limits_due = time.monotonic() + LIMITS_EVERY_SECONDS
                retention = self.settings.library_retention_days
                await store.enforce_limits(
                    timedelta(days=retention) if retention else None, self.settings.library_max_bytes or None
                )
        except LIBRARY_FAILURES as exc:
            self.failed("library_write_failed", exc)
        except BrokenProcessPool:  # the describing process died (killed, out of memory): a new one for the next
            log.error("library_describer_died", results=len(batch))
            metrics.LIBRARY_FAILURES.inc()
            self._pool = None

    def _work(self, finished: Finished) -> "_Work":
        """What the describing process needs of a result, as plain data (off the event loop: it reads the recording,
        and a request may carry a large MIDI or audio file)."""
        result, request = finished.result, finished.request
        blob = None
        if isinstance(result, Recorded):
            # A compose's tens of MB: the describing process reads the cache's blob of them itself rather than
            # have the gateway read the recording and send it over.
            blob = _written_blob(result.after)
            response, events = result.response, [] if blob is not None else result.recording.events
        else:
            response, events = type(result[0]).__name__, [event.SerializeToString() for event in result]
        return _Work(
            owner=finished.owner,
            kind=KINDS.get(finished.method, finished.method),
            request=request_fields(request) if isinstance(request, Message) else dataclass_fields(request),
            prompt=finished.prompt,
            timings=timings(finished.summary),
            response=response,
            events=events,
            events_blob=blob,
            library_dir=self.settings.library_dir,
        )


@dataclass(frozen=True)
class _Work:
    """One result on its way to the describing process."""

    owner: str
    kind: str
    request: dict[str, Any]
    prompt: str
    timings: dict[str, float]
    response: str
    events: list[bytes]
    events_blob: BlobRef | None  # where the events are when not in `events`: the cache's blob of them
    library_dir: Path


def _described(work: _Work) -> NewItem:
    """The item of a result, its files written to the content store. Runs in the describing process: describing and
    encoding are CPU work that would hold the gateway's interpreter (and its event loop) for milliseconds a call."""
    from library.describe import describe  # loads the text model at first use

    parse = getattr(pb, work.response).FromString
    events = work.events if work.events_blob is None else work.events_blob.events()
    made = _made(parse(event) for event in events)
    description = describe(work.kind, work.prompt, made.metadata, made.midi, made.audio)
    metadata = dict(made.metadata)
    for name in ("key", "bpm", "meter"):
        told = getattr(description, name)
        if told and not metadata.get(name):
            metadata[name] = told
    store = ContentStore(work.library_dir)
    files = []
    for name, data in made.files.items():
        stored = store.put(data)
        suffix = "." + name.rsplit(".", 1)[-1]
        files.append(ItemFile(name, MEDIA_TYPES.get(suffix, "application/octet-stream"), stored.sha256, stored.size))
    return NewItem(
        owner=work.owner,
        kind=work.kind,
        request=work.request,
        prompt=work.prompt,
        metadata=metadata,
        timings=work.timings,
        description=description.text,
        text_vector=description.text_vector,
        sound_vector=description.sound_vector,
        files=files,
    )


def _described_all(works: list[_Work]) -> list[NewItem | str]:
    """Each result's item, or why it could not be read (a traceback): one result the library cannot read loses
    none of the others."""
    described: list[NewItem | str] = []
    for work in works:
        try:
            described.append(_described(work))
        except Exception:
            described.append(traceback.format_exc())
    return described


def _written_blob(cache_write: "asyncio.Task[BlobRef | None] | None") -> BlobRef | None:
    """The blob a finished cache write made, if it made one."""
    if cache_write is None or cache_write.cancelled() or cache_write.exception() is not None:
        return None
    return cache_write.result()


def _parts(works: list[_Work]) -> Iterator[list[_Work]]:
    """Consecutive results of at most PART_BYTES of events together (a larger one alone)."""
    part: list[_Work] = []
    size = 0
    for work in works:
        work_size = sum(len(event) for event in work.events)
        if part and size + work_size > PART_BYTES:
            yield part
            part, size = [], 0
        part.append(work)
        size += work_size
    if part:
        yield part


def _let_go(finished: Finished) -> None:
    """The library is done with a result: its recording, if it has one, may go."""
    if isinstance(finished.result, Recorded):
        finished.result.recording.release()
