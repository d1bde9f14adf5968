"""Large data on disk, in two forms that share one way of writing (a temporary name, synced and renamed, so a crash
leaves either the whole file or none) and of reading (only when the bytes match their SHA-256):

- ArtifactStore: a job's input audio and its results, each a file of length-prefixed protobuf messages in the job's
  directory, with a SHA-256 that the job's record keeps.
- ContentStore: blobs named by the SHA-256 of their bytes (the same bytes are kept once), for results referenced
  from elsewhere (the cache's index in Redis, the library's rows). Each owner keeps its own root and its own lifetime.

The directories are the gateway's (under `data_dir`); gateways that share work share them (a volume in Kubernetes)."""

import hashlib
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from google.protobuf.message import Message

_LENGTH_BYTES = 4
_READ_BYTES = 1 << 20


class CorruptArtifact(Exception):
    """A file that is missing, or whose bytes are not those its checksum was taken of."""


@dataclass(frozen=True)
class Artifact:
    name: str
    sha256: str
    size: int


class ArtifactWriter:
    """Appends messages to a new artifact; commit() makes it visible under its name."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / name
        self.staging = directory / f".{name}.{os.getpid()}.{time.monotonic_ns()}"
        self._file: IO[bytes] = self.staging.open("xb")
        os.chmod(self.staging, 0o600)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, message: Message) -> None:
        data = message.SerializeToString()
        for part in (len(data).to_bytes(_LENGTH_BYTES, "big"), data):
            self._file.write(part)
            self._hash.update(part)
            self.size += len(part)

    def commit(self) -> Artifact:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.staging, self.path)
        return Artifact(self.path.name, self._hash.hexdigest(), self.size)

    def discard(self) -> None:
        self._file.close()
        self.staging.unlink(missing_ok=True)


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, job_id: str) -> Path:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # jobs hold users' prompts and audio
        directory = self.root / job_id
        directory.mkdir(mode=0o700, exist_ok=True)
        return directory

    def writer(self, job_id: str, name: str) -> ArtifactWriter:
        return ArtifactWriter(self.directory(job_id), name)

    def verify(self, job_id: str, artifact: Artifact) -> None:
        """Raises CorruptArtifact unless the file is there, whole and unchanged."""
        digest = hashlib.sha256()
        try:
            with (self.root / job_id / artifact.name).open("rb") as file:
                while block := file.read(_READ_BYTES):
                    digest.update(block)
        except OSError as exc:
            raise CorruptArtifact(f"{artifact.name}: {exc.strerror or exc}") from exc
        if digest.hexdigest() != artifact.sha256:
            raise CorruptArtifact(f"{artifact.name}: its checksum does not match")

    def messages(self, job_id: str, artifact: Artifact) -> Iterator[bytes]:
        """The serialized messages of an artifact, one at a time (call verify first)."""
        try:
            with (self.root / job_id / artifact.name).open("rb") as file:
                while prefix := file.read(_LENGTH_BYTES):
                    length = int.from_bytes(prefix, "big")
                    data = file.read(length)
                    if len(prefix) != _LENGTH_BYTES or len(data) != length:
                        raise CorruptArtifact(f"{artifact.name}: truncated")
                    yield data
        except OSError as exc:
            raise CorruptArtifact(f"{artifact.name}: {exc.strerror or exc}") from exc

    def discard(self, job_id: str, artifact: Artifact) -> None:
        (self.root / job_id / artifact.name).unlink(missing_ok=True)

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    def stale(self, older_than: float) -> list[str]:
        """The job ids of directories untouched for `older_than` seconds."""
        if not self.root.is_dir():
            return []
        cutoff = time.time() - older_than
        return [path.name for path in self.root.iterdir() if path.is_dir() and path.stat().st_mtime < cutoff]


_SHA256_HEX = frozenset("0123456789abcdef")


class ContentStore:
    """Blobs named by their SHA-256 (hex), in `root/<first two hex digits>/<digest>`; putting bytes that are already
    there writes nothing. Reading hashes the bytes again, so a damaged blob is never served."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not _SHA256_HEX.issuperset(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256

    def put(self, parts: bytes | Iterable[bytes]) -> Artifact:
        """Stores the bytes (one buffer, or parts written in turn) and returns their artifact, named by digest."""
        if isinstance(parts, bytes):
            parts = [parts]
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # results hold users' prompts and audio
        staging = self.root / f".put.{os.getpid()}.{time.monotonic_ns()}"
        digest = hashlib.sha256()
        size = 0
        try:
            with staging.open("xb") as file:
                os.chmod(staging, 0o600)
                for part in parts:
                    file.write(part)
                    digest.update(part)
                    size += len(part)
                file.flush()
                os.fsync(file.fileno())
            target = self.path(digest.hexdigest())
            if target.exists():
                os.utime(target)  # a blob put again is in use again (owners expire blobs by their mtime)
            else:
                target.parent.mkdir(mode=0o700, exist_ok=True)
                os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
        return Artifact(digest.hexdigest(), digest.hexdigest(), size)

    def read(self, sha256: str) -> bytes:
        """The blob's bytes; CorruptArtifact when it is missing or damaged."""
        try:
            data = self.path(sha256).read_bytes()
        except OSError as exc:
            raise CorruptArtifact(f"{sha256}: {exc.strerror or exc}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptArtifact(f"{sha256}: its checksum does not match")
        return data

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def blobs(self) -> Iterator[tuple[str, os.stat_result]]:
        """(digest, stat) of every blob, for owners that sweep by age or size."""
        if not self.root.is_dir():
            return
        for shard in self.root.iterdir():
            if shard.is_dir() and len(shard.name) == 2:
                for blob in shard.iterdir():
                    try:
                        yield blob.name, blob.stat()
                    except FileNotFoundError:  # deleted meanwhile
                        continue
