"""LoRA adapters of MusicGen: kept on disk (`AdapterStore`) and applied to a loaded base model per batch
(`AppliedAdapters`) without reloading it.

An adapter is a folder named by the adapter (a slug) holding peft's ``adapter_config.json`` and
``adapter_model.safetensors`` and our ``recipe.json`` (its base model, hyper-parameters, data checksums, losses;
written by `generator.training.save_adapter`). Applying uses peft's own multi-adapter model over ``model.lm``:
adapters are loaded on first use, at most `max_loaded` are kept (the least recently used goes), and each batch runs
with one of them active or with all of them disabled (the base model, exactly)."""

import json
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from dgxmusic import catalog
from generator.errors import InvalidAdapter, UnknownAdapter
from generator.weights import name_of

if TYPE_CHECKING:
    from audiocraft.models.musicgen import MusicGen
    from peft import PeftModel

ADAPTER_WEIGHTS: Final = "adapter_model.safetensors"  # peft's own file names, so that peft's load_adapter reads them
ADAPTER_CONFIG: Final = "adapter_config.json"
RECIPE: Final = "recipe.json"
# Lower-case letters, digits and inner hyphens (the contract's, which the gateway checks too): safe as a folder name,
# and as a peft adapter name once prefixed (peft adapter names become module attributes, so "train" or "eval"
# themselves would clash).
NAME_PATTERN: Final = catalog.ADAPTER_NAME
DEFAULT_MAX_LOADED: Final = 4


def check_name(name: str, field: str = "adapter") -> None:
    """Raises InvalidAdapter (naming `field`) unless `name` is a slug: 1-64 lower-case letters, digits and inner
    hyphens."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidAdapter(
            field, f"adapter names are 1-64 lower-case letters, digits and inner hyphens (my-boombap), got {name!r}"
        )


@dataclass(frozen=True)
class AdapterInfo:
    """One stored adapter: its name, the base model it was trained on, its recipe, its folder and its size."""

    name: str
    base_model: str
    recipe: Mapping[str, Any]
    path: Path
    size_bytes: int


class AdapterStore:
    """The adapters in one folder (one sub-folder each; dot-folders are saves or deletes in progress)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def names(self) -> list[str]:
        """The stored adapters' names, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(
            path.name
            for path in self.directory.iterdir()
            if NAME_PATTERN.fullmatch(path.name) and (path / RECIPE).is_file()
        )

    def list(self) -> list[AdapterInfo]:
        """Every stored adapter, by name."""
        return [self.get(name) for name in self.names()]

    def get(self, name: str) -> AdapterInfo:
        """Adapter `name`; raises InvalidAdapter for a name that is not a slug, UnknownAdapter for one not stored."""
        check_name(name)
        path = self.directory / name
        if not (path / RECIPE).is_file():
            raise UnknownAdapter(name, self.names())
        recipe = json.loads((path / RECIPE).read_text())
        size = sum(file.stat().st_size for file in path.iterdir() if file.is_file())
        return AdapterInfo(name, str(recipe.get("base_model", "")), recipe, path, size)

    def delete(self, name: str) -> None:
        """Removes adapter `name` (renamed aside first, so that no one reads half of it); raises like `get`."""
        info = self.get(name)
        doomed = self.directory / f".deleting-{name}-{uuid.uuid4().hex}"
        info.path.rename(doomed)
        shutil.rmtree(doomed)


class AppliedAdapters:
    """Adapters from `store` applied to one loaded base `model` (see the module's docstring); thread-safe: `using`
    holds a lock for the whole batch, since the active adapter is the model's state."""

    def __init__(self, model: "MusicGen", store: AdapterStore, max_loaded: int = DEFAULT_MAX_LOADED) -> None:
        if max_loaded < 1:
            raise ValueError(f"max_loaded must be at least 1, got {max_loaded}")
        self.model = model
        self.store = store
        self.max_loaded = max_loaded
        self._peft: PeftModel | None = None
        self._loaded: OrderedDict[str, AdapterInfo] = OrderedDict()  # least recently used first
        self._lock = threading.RLock()

    @contextmanager
    def using(self, name: str) -> Iterator[None]:
        """Runs the body with adapter `name` active ("" for the base model), loading it if needed. Raises
        InvalidAdapter for a bad name or an adapter of another base model, UnknownAdapter for one not stored."""
        with self._lock:
            if not name:
                if self._peft is None:
                    yield
                else:
                    with self._peft.disable_adapter():
                        yield
                return
            peft_model = self._load(name)
            peft_model.set_adapter(_peft_name(name), inference_mode=True)
            yield

    def loaded(self) -> list[str]:
        """The adapters held in memory, least recently used first."""
        with self._lock:
            return list(self._loaded)

    def forget(self, name: str) -> None:
        """Drops adapter `name` from memory if it is held (after it was deleted or replaced in the store)."""
        with self._lock:
            if self._loaded.pop(name, None) is not None and self._peft is not None:
                self._peft.delete_adapter(_peft_name(name))

    def close(self) -> None:
        """Takes every adapter off the model, which is the base model as loaded again (before it is unloaded, or
        handed to a training run)."""
        with self._lock:
            if self._peft is not None:
                self._peft.unload()
                self._peft = None
            self._loaded.clear()

    def _load(self, name: str) -> "PeftModel":
        if name in self._loaded and self._peft is not None:
            self._loaded.move_to_end(name)
            return self._peft
        info = self.store.get(name)
        base = name_of(self.model)
        if info.base_model != base:
            raise InvalidAdapter(
                "adapter", f"adapter {name!r} was trained on {info.base_model!r}; this server's model is {base!r}"
            )
        from peft import PeftModel

        device = str(next(self.model.lm.parameters()).device)
        if self._peft is None:
            self._peft = PeftModel.from_pretrained(
                self.model.lm, str(info.path), adapter_name=_peft_name(name), torch_device=device
            )
        else:
            self._peft.load_adapter(str(info.path), adapter_name=_peft_name(name), torch_device=device)
        self._loaded[name] = info
        while len(self._loaded) > self.max_loaded:
            oldest, _ = self._loaded.popitem(last=False)
            self._peft.delete_adapter(_peft_name(oldest))
        return self._peft


def _peft_name(name: str) -> str:
    """The adapter's name inside peft: prefixed so that it is never a module attribute ("train"), and with
    underscores, since slugs have none, it cannot clash with another slug."""
    return "adapter_" + name.replace("-", "_")
