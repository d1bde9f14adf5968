"""A job's large data on disk: its input audio and its results, each a file of length-prefixed protobuf messages
with a SHA-256 that the job's record keeps. Files are written under a temporary name, synced and renamed, so a crash
leaves either the whole file or none; they are read back only when their checksum matches. The directory is the
gateway's (`artifact_dir`); gateways that share jobs share it (a volume in Kubernetes)."""

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
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
