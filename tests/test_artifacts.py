"""The content-addressed store that the cache and the library keep their large results in."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.artifacts import ContentStore, CorruptArtifact


def test_bytes_are_kept_once_under_their_digest(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "blobs")
    first = store.put(b"song")
    second = store.put([b"so", b"ng"])
    assert first == second
    assert first.sha256 == hashlib.sha256(b"song").hexdigest()
    assert first.size == 4
    assert store.read(first.sha256) == b"song"
    assert first.sha256 in store
    assert [digest for digest, _ in store.blobs()] == [first.sha256]
    assert not [path for path in (tmp_path / "blobs").iterdir() if path.name.startswith(".")]


def test_a_damaged_or_missing_blob_is_never_read(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    blob = store.put(b"mix")
    store.path(blob.sha256).write_bytes(b"mux")
    with pytest.raises(CorruptArtifact, match="checksum"):
        store.read(blob.sha256)
    store.delete(blob.sha256)
    assert blob.sha256 not in store
    with pytest.raises(CorruptArtifact):
        store.read(blob.sha256)


@pytest.mark.parametrize("name", ["../../etc/passwd", "ab", "Z" * 64, ""])
def test_only_digests_name_blobs(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        ContentStore(tmp_path).path(name)


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def parts() -> Iterator[bytes]:
        yield b"half"
        raise OSError("disk full")

    store = ContentStore(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        store.put(parts())
    assert list(tmp_path.iterdir()) == []
