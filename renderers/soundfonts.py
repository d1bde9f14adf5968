"""The SoundFonts a renderer may use, found by scanning directories and looked up by name only; and the ones clients
uploaded, kept under their content's sha256 ("sha256:<hex>"), so a client's name never becomes a path."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from renderers.errors import SoundFontNotFound

DEFAULT_SOUNDFONT_DIRS = (Path("/usr/share/sounds/sf2"),)
PREFERRED_DEFAULT = "FluidR3_GM"
_SUFFIXES = (".sf2", ".sf3")
UPLOADED_PREFIX = "sha256:"
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class SoundFont:
    """A SoundFont file and the name clients ask for it by (the file stem)."""

    name: str
    path: Path


class SoundFontLibrary:
    """The SoundFonts found in some directories, resolved by name so clients never pass paths."""

    def __init__(self, directories: Sequence[Path], default: str | None = None, uploads: Path | None = None) -> None:
        self._uploads = uploads
        self._fonts = _scan(directories)
        # Names as people type them: the first font of a name wins, as in _scan.
        self._by_key: dict[str, str] = {}
        for font_name in self._fonts:
            self._by_key.setdefault(_key(font_name), font_name)
        self._default: str | None = None
        self._default = self.resolve(default).name if default is not None else _pick_default(self.names())

    def names(self) -> list[str]:
        """The names of the SoundFonts found, in scan order."""
        return list(self._fonts)

    @property
    def default(self) -> str | None:
        """The name used when a request names no SoundFont; None when the library is empty."""
        return self._default

    def resolve(self, name: str | None) -> SoundFont:
        """The SoundFont called `name` (in any case, with or without its .sf2/.sf3), or the default for None or "";
        "sha256:<hex>" is a client's uploaded font."""
        if name and (digest := uploaded_digest(name)) is not None:
            path = uploaded_path(self._uploads, digest) if self._uploads is not None else None
            if path is None or not path.is_file():
                raise SoundFontNotFound(name, self.names())
            return SoundFont(name=f"{UPLOADED_PREFIX}{digest}", path=path)
        wanted = name or self._default
        found = self._by_key.get(_key(wanted)) if wanted is not None else None
        if found is None:
            raise SoundFontNotFound(name or "", self.names())
        return self._fonts[found]


def uploaded_digest(name: str) -> str | None:
    """The sha256 (lowercase hex) an uploaded font's name "sha256:<hex>" gives; None for any other name."""
    if name[: len(UPLOADED_PREFIX)].lower() != UPLOADED_PREFIX:
        return None
    digest = name[len(UPLOADED_PREFIX) :].lower()
    return digest if _DIGEST.fullmatch(digest) else None


def uploaded_path(directory: Path, digest: str) -> Path:
    """Where the uploaded font of this sha256 is kept: the name is the server's own digest, never the client's."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return directory / f"{digest}.sf2"


def _key(name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    if dot and f".{suffix.lower()}" in _SUFFIXES:
        name = stem
    return name.casefold()


def _scan(directories: Sequence[Path]) -> dict[str, SoundFont]:
    fonts: dict[str, SoundFont] = {}
    seen: set[Path] = set()
    for directory in directories:
        # Real files before links, so a link such as default-GM.sf2 never hides the file it points to.
        for path in sorted(_candidates(directory), key=lambda p: (p.is_symlink(), p.name)):
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # a broken link or a link loop
                continue
            if target in seen or path.stem in fonts or not target.is_file():
                continue
            seen.add(target)
            fonts[path.stem] = SoundFont(name=path.stem, path=path)
    return fonts


def _candidates(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if p.suffix.lower() in _SUFFIXES]
    except OSError:
        return []


def _pick_default(names: list[str]) -> str | None:
    if PREFERRED_DEFAULT in names:
        return PREFERRED_DEFAULT
    return names[0] if names else None
