"""Clients' own SoundFonts (UploadSoundFont): streamed to a file of the server's, checked, and kept under their sha256.

The store is soundfont_upload_dir, readable by its owner only. A file's name there is the digest the server computed
(renderers.uploaded_path), never anything the client wrote, and a font is kept only when it is a SoundFont 2 that
FluidSynth loads: it is read as samples and presets, never run. A font already held is answered at the header; a
header alone asks whether the server holds the font (NOT_FOUND when not), so a client uploads only what is missing."""

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import grpc

import renderers
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.errors import ApiError, invalid_argument, request_errors, too_large
from gateway.uploads import until_idle

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAGIC_BYTES = 12  # "RIFF", its size, "sfbk"


async def receive_soundfont(
    requests: AsyncIterator[pb.UploadSoundFontRequest],
    *,
    directory: Path,
    max_bytes: int,
    max_store_bytes: int,
    idle_seconds: float,
) -> pb.UploadSoundFontResponse:
    """Reads a header then its chunks into the store; the response names the font as Render and Compose take it.
    Making room for it, the store drops its least recently used fonts past ``max_store_bytes``."""
    messages = until_idle(requests, idle_seconds, "soundfont")
    first = await anext(messages, None)
    if first is None or first.WhichOneof("message") != "header":
        raise invalid_argument("header", "send a SoundFontHeader (total_bytes, sha256) first")
    header = first.header
    digest = _checked_header(header, max_bytes)
    final = renderers.uploaded_path(directory, digest)
    response = pb.UploadSoundFontResponse(
        soundfont=f"{renderers.UPLOADED_PREFIX}{digest}", sha256=digest, size_bytes=header.total_bytes
    )
    if await asyncio.to_thread(mark_used, final):
        response.already_stored = True
        return response
    first_chunk = await anext(messages, None)
    if first_chunk is None:
        reason = f"the server does not hold sha256:{digest}: send the file's chunks after the header"
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"soundfont: {reason}", "soundfont")
    descriptor, name = await asyncio.to_thread(_open_partial, directory)
    try:
        with os.fdopen(descriptor, "wb") as file:
            received = await _write_chunks(_after(first_chunk, messages), file, header.total_bytes)
        if received != digest:
            raise invalid_argument("header.sha256", f"the file's sha256 is {received}, not {digest}")
        with request_errors():
            await asyncio.to_thread(_keep, Path(name), final, max_store_bytes)
    finally:
        await asyncio.to_thread(Path(name).unlink, missing_ok=True)
    return response


def _open_partial(directory: Path) -> tuple[int, str]:
    """A new file for an upload in progress, in the store (made readable by its owner only), created 0600."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return tempfile.mkstemp(dir=directory, prefix=".upload-")


def _keep(partial: Path, final: Path, max_store_bytes: int) -> None:
    """The upload, checked to be a SoundFont FluidSynth loads, under its digest's name, room made for it."""
    renderers.check_soundfont_file(partial)
    _make_room(final.parent, partial.stat().st_size, max_store_bytes)
    os.replace(partial, final)


def mark_used(font: Path) -> bool:
    """Marks an uploaded font as just used (its mtime: the store drops the least recently used first); whether the
    store holds it."""
    try:
        os.utime(font)
    except FileNotFoundError:
        return False
    return True


def _make_room(directory: Path, size: int, max_store_bytes: int) -> None:
    """Removes the least recently used fonts until `size` more bytes fit within max_store_bytes. A render using a
    removed font at that moment fails as unavailable; its client uploads it again."""
    fonts = sorted((path.stat().st_mtime, path.stat().st_size, path) for path in directory.glob("*.sf2"))
    used = sum(font_size for _, font_size, _ in fonts)
    for _, font_size, path in fonts:
        if used + size <= max_store_bytes:
            break
        path.unlink(missing_ok=True)
        used -= font_size


def _checked_header(header: pb.SoundFontHeader, max_bytes: int) -> str:
    digest = header.sha256.lower()
    if not _SHA256.fullmatch(digest):
        raise invalid_argument("header.sha256", "the file's sha256 as 64 hex digits")
    if header.total_bytes <= _MAGIC_BYTES:
        raise invalid_argument("header.total_bytes", f"a SoundFont has more than {_MAGIC_BYTES} bytes")
    if header.total_bytes > max_bytes:
        raise too_large("header.total_bytes", f"{header.total_bytes} bytes is over the {max_bytes}-byte limit")
    return digest


async def _write_chunks(messages: AsyncIterator[pb.UploadSoundFontRequest], file: BinaryIO, total_bytes: int) -> str:
    """Writes the chunks; their sha256 (hex). The file's first bytes are checked as soon as they come, so that what is
    no SoundFont is refused before a long upload."""
    received = hashlib.sha256()
    size = 0
    head = b""
    async for message in messages:
        if message.WhichOneof("message") != "chunk":
            raise invalid_argument("header", "one header per upload, before the chunks")
        size += len(message.chunk)
        if size > total_bytes:
            raise invalid_argument("header.total_bytes", f"more than the {total_bytes} bytes the header declared")
        if len(head) < _MAGIC_BYTES:
            head += message.chunk[: _MAGIC_BYTES - len(head)]
            if len(head) >= 4 and (head[:4] != b"RIFF" or (len(head) == _MAGIC_BYTES and head[8:] != b"sfbk")):
                raise invalid_argument("soundfont", "not a SoundFont: a .sf2 file starts with RIFF....sfbk")
        received.update(message.chunk)
        await asyncio.to_thread(file.write, message.chunk)
    if size != total_bytes:
        raise invalid_argument("header.total_bytes", f"the header declared {total_bytes} bytes, {size} came")
    return received.hexdigest()


async def _after(
    first: pb.UploadSoundFontRequest, rest: AsyncIterator[pb.UploadSoundFontRequest]
) -> AsyncIterator[pb.UploadSoundFontRequest]:
    yield first
    async for message in rest:
        yield message
