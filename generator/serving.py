"""Every MusicGen model a server knows, served by name: a call names its model (or none, for the default), which is
loaded on its first call and kept while the memory budget allows (deploy.loaded_models). Unknown names are refused
with the known ones listed; known names without weights with the parts to fetch."""

from datetime import datetime
from pathlib import Path
from typing import Any

from deploy.loaded_models import LoadedModels, tensor_bytes
from dgxmusic import catalog
from generator.adapters import AdapterInfo, AdapterStore
from generator.errors import InvalidGeneration, UnknownAdapter
from generator.generate import Generator
from generator.weights import MODELS, known_models, load_model, model_modules, weights_problem


def canonical_name(name: str) -> str:
    """A model's name as the generator knows it: its Hugging Face name ("facebook/musicgen-small") is accepted."""
    return name.removeprefix("facebook/")


class Generators:
    """The generators of every known model, `default` for a call that names none."""

    def __init__(
        self,
        default: str,
        weights_dir: Path,
        *,
        budget_bytes: float,
        max_seconds: float = 300.0,
        max_batch: int = 16,
        device: str = "cpu",
    ) -> None:
        self.default = canonical_name(default)
        self.weights_dir = weights_dir
        self.max_batch = max_batch  # prompts generated together
        self.loaded = LoadedModels(
            budget_bytes,
            load=lambda name: Generator(
                load_model(name, weights_dir, device), max_seconds=max_seconds, max_batch=max_batch
            ),
            size=lambda generator: tensor_bytes(model_modules(generator.model)),
        )

    def name_of(self, name: str) -> str:
        """The model a call naming `name` runs ("" is the default). Raises InvalidGeneration (field "model") for a
        name no one knows."""
        name = canonical_name(name) or self.default
        if name not in known_models():
            raise InvalidGeneration(
                "model", f"unknown MusicGen model {name!r}; known models: {', '.join(known_models())}"
            )
        return name

    def get(self, name: str = "") -> Generator:
        """The generator of model `name` ("" for the default). Raises InvalidGeneration for an unknown name,
        MissingWeights for one whose parts are absent, OverMemoryBudget for one that cannot fit."""
        return self.loaded.get(self.name_of(name))

    def catalog(self) -> list[catalog.Entry]:
        """The released models, the default and any loaded one, each with its state; weights looked for, not loaded.
        (The debug models, which need no weights, are listed only when they are the default or loaded.)"""
        loaded = self.loaded.loaded()
        names = list(dict.fromkeys([*MODELS, self.default, *loaded]))
        entries = []
        for name in names:
            state, message = catalog.State.READY, ""
            if name in loaded:
                state = catalog.State.LOADED
            elif (problem := weights_problem(name, self.weights_dir)) is not None:
                state, message = catalog.State.WEIGHTS_MISSING, str(problem)
            entries.append(catalog.Entry(name, state, message, default=name == self.default))
        return entries


def adapter_entry(info: AdapterInfo) -> catalog.AdapterEntry:
    """A stored adapter as the gateway lists it, from its recipe (generator.training.save_adapter)."""
    recipe: dict[str, Any] = dict(info.recipe)
    created = recipe.get("created")
    return catalog.AdapterEntry(
        name=info.name,
        base_model=info.base_model,
        created=datetime.fromisoformat(created).timestamp() if isinstance(created, str) else 0.0,
        base_validation_loss=float(recipe.get("base_validation_loss", 0.0)),
        adapter_validation_loss=float(recipe.get("adapter_validation_loss", 0.0)),
        steps=int(recipe.get("hyper_parameters", {}).get("steps", 0)),
        training_chunks=int(recipe.get("training_chunks", 0)),
        validation_chunks=int(recipe.get("validation_chunks", 0)),
        recipe=recipe,
    )


def check_owned(store: AdapterStore, name: str, owner: str) -> None:
    """Raises UnknownAdapter, listing the owner's own, for an adapter `owner` did not train: another caller's adapter
    is as unknown to it as one that does not exist."""
    owned = [info.name for info in store.list() if info.recipe.get("owner", "") == owner]
    if name not in owned:
        raise UnknownAdapter(name, owned)


def adapter_entries(store: AdapterStore) -> list[catalog.AdapterEntry]:
    """Every stored adapter, by name."""
    return [adapter_entry(info) for info in store.list()]
