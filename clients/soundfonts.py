"""A client's own SoundFont on the server: named by its sha256 ("sha256:<hex>"), sent with UploadSoundFont only when
the server does not hold it yet (a header alone asks), read from disk a chunk at a time."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

from dgxmusic.v1 import music_service_pb2 as pb

UPLOADED_PREFIX = "sha256:"
CHUNK_BYTES = 1024 * 1024  # the gateway takes at most 1 MiB per message chunk


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def soundfont_header(path: Path, sha256: str) -> pb.SoundFontHeader:
    return pb.SoundFontHeader(total_bytes=path.stat().st_size, sha256=sha256)


def header_only(header: pb.SoundFontHeader) -> Iterator[pb.UploadSoundFontRequest]:
    """The messages that ask whether the server holds the font: its header alone."""
    yield pb.UploadSoundFontRequest(header=header)


def upload_soundfont_messages(path: Path, header: pb.SoundFontHeader) -> Iterator[pb.UploadSoundFontRequest]:
    """The header, then the file in chunks, read as gRPC sends them (a 141 MB font is never held whole)."""
    yield pb.UploadSoundFontRequest(header=header)
    with path.open("rb") as file:
        while block := file.read(CHUNK_BYTES):
            yield pb.UploadSoundFontRequest(chunk=block)
