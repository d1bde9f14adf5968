"""The models one Triton instance keeps in memory, within the memory its plan gives it (the profile's `memory_gb`,
rendered into the model's config as the MEMORY_GB parameter): a model is loaded by name on its first call and the
least recently used ones are dropped to make room. The separator and the generator serve every model a call names
through one of these.

A model's size is known once it is loaded (its tensors' bytes); one loaded before is made room for before it is
loaded again, so that switching between two large models never holds both. A model larger than the whole budget
is refused: serving it would break the plan, and retrying would not help."""

import gc
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import torch

from dgxmusic import errors

M = TypeVar("M")

GB = 1024**3


class OverMemoryBudget(errors.MissingWeights):
    """A model larger than all the memory its Triton model is planned to use. Answered as FAILED_PRECONDITION, like
    missing weights: the server cannot run it as deployed, and only its operator can change that."""

    def __init__(self, name: str, size_bytes: int, budget_bytes: int) -> None:
        super().__init__(
            f"model {name!r} takes {size_bytes / GB:.2f} GB, more than the {budget_bytes / GB:.2f} GB this server "
            "plans for its models of that kind (the profile's memory_gb; the MEMORY_GB parameter of the Triton "
            "model's config): raise it with `dgx-music plan`, or use a smaller model"
        )
        self.name = name


def tensor_bytes(modules: Iterable[torch.nn.Module]) -> int:
    """The bytes of the parameters and buffers of `modules` (each tensor counted once, however many hold it)."""
    seen: set[int] = set()
    total = 0
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.data_ptr() not in seen:
                seen.add(tensor.data_ptr())
                total += tensor.numel() * tensor.element_size()
    return total


class LoadedModels(Generic[M]):
    """Models by name, loaded on demand by `load`, at most `budget_bytes` of them (by `size`) kept at once, the least
    recently used dropped first. Not thread-safe: a Triton python model runs one `execute` at a time."""

    def __init__(
        self,
        budget_bytes: float,
        load: Callable[[str], M],
        size: Callable[[M], int],
        *,
        on_drop: Callable[[str, M], None] | None = None,
    ) -> None:
        self.budget_bytes = budget_bytes
        self._load = load
        self._size = size
        self._on_drop = on_drop
        self._loaded: OrderedDict[str, tuple[M, int]] = OrderedDict()  # least recently used first
        self._known_sizes: dict[str, int] = {}  # of every model loaded once, kept after it is dropped

    def get(self, name: str) -> M:
        """Model `name`, loaded now if it is not loaded; what `load` raises (missing weights...) goes to the caller
        and leaves the loaded models as they were. Raises OverMemoryBudget for a model larger than the budget."""
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return self._loaded[name][0]
        known = self._known_sizes.get(name)
        if known is not None:
            self._check_fits(name, known)
            self._make_room(known)
        model = self._load(name)
        size = self._known_sizes[name] = self._size(model)
        if size > self.budget_bytes:
            del model
            _free_memory()
            self._check_fits(name, size)
        self._make_room(size)
        self._loaded[name] = (model, size)
        return model

    def loaded(self) -> list[str]:
        """The names in memory, the least recently used first."""
        return list(self._loaded)

    @property
    def used_bytes(self) -> int:
        return sum(size for _, size in self._loaded.values())

    def _check_fits(self, name: str, size: int) -> None:
        if size > self.budget_bytes:
            raise OverMemoryBudget(name, size, int(self.budget_bytes))

    def _make_room(self, size: int) -> None:
        dropped = False
        while self._loaded and self.used_bytes + size > self.budget_bytes:
            name, (model, _) = self._loaded.popitem(last=False)
            if self._on_drop is not None:
                self._on_drop(name, model)
            del model
            dropped = True
        if dropped:
            _free_memory()


def _free_memory() -> None:
    """Gives a dropped model's memory back now, not whenever the collector next runs (and the GPU's to the driver's
    pool, where the next model is loaded)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
