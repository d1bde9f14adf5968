"""The stack's own keys: the one Triton's restricted APIs ask for, Redis's password, and the key that signs cached
results. An operator sets them (DGXMUSIC_TRITON_API_KEY, DGXMUSIC_REDIS_PASSWORD, DGXMUSIC_CACHE_SIGNING_KEY: in
Kubernetes from a Secret); otherwise the launcher generates them at the stack's first start and keeps them with its
data, readable by their owner only, so that a restarted stack still reads its own cache."""

import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr

from deploy.settings import Settings

KEYS = ("triton_api_key", "redis_password", "cache_signing_key")
KEYS_FILE = "keys.json"


def keys_path(data_dir: Path) -> Path:
    return data_dir / KEYS_FILE


def with_keys(settings: Settings, names: Sequence[str] = KEYS) -> Settings:
    """The settings with every key of `names` the operator left unset filled in from the data directory's keys file
    (written, owner-only, with new random keys the first time). A process run alone takes the keys it uses, so that
    `dgx-music triton` and `dgx-music gateway` on one data directory share them as `serve`'s children do."""
    missing = [name for name in names if getattr(settings, name) is None]
    if not missing:
        return settings
    path = keys_path(settings.data_dir.resolve())
    kept: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if any(name not in kept for name in missing):
        kept |= {name: secrets.token_urlsafe(32) for name in missing if name not in kept}
        write_private(path, json.dumps(kept, indent=2, sort_keys=True))
    return settings.model_copy(update={name: SecretStr(kept[name]) for name in missing})


def write_private(path: Path, text: str) -> None:
    """Writes a file only its owner can read, never readable by others even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    staging.unlink(missing_ok=True)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    staging.replace(path)
