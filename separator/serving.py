"""Every demucs model a server knows, served by name: a call names its model (or none, for the default), which is
loaded on its first call and kept while the memory budget allows (deploy.loaded_models). Unknown names are refused
with the known ones listed; known names without weights with the files to fetch."""

from pathlib import Path

from deploy.loaded_models import LoadedModels, tensor_bytes
from dgxmusic import catalog
from separator.errors import InvalidOption, MissingWeights
from separator.separate import Separator
from separator.weights import known_models, load_model, members, weights_place


class Separators:
    """The separators of every known model, `default` for a call that names none."""

    def __init__(
        self, default: str, weights_dir: Path, *, budget_bytes: float, max_seconds: float = 600.0, device: str = "cpu"
    ) -> None:
        self.default = default
        self.weights_dir = weights_dir
        self.max_seconds = max_seconds
        self.device = device
        self.loaded = LoadedModels(
            budget_bytes,
            load=lambda name: Separator(load_model(name, weights_dir), max_seconds=max_seconds, device=device),
            size=lambda separated: tensor_bytes(members(separated.model)),
        )

    def get(self, name: str = "") -> Separator:
        """The separator of model `name` ("" for the default). Raises InvalidOption (field "model") for a name no
        one knows, MissingWeights for one whose files are absent, OverMemoryBudget for one that cannot fit."""
        name = name or self.default
        known = known_models(self.weights_dir)
        if name not in known:
            raise InvalidOption("model", f"unknown demucs model {name!r}; known models: {', '.join(known)}")
        return self.loaded.get(name)

    def catalog(self) -> list[catalog.Entry]:
        """Every known model with its state; the weights are looked for, not loaded."""
        entries = []
        loaded = set(self.loaded.loaded())
        for name in known_models(self.weights_dir):
            state, message = catalog.State.READY, ""
            if name in loaded:
                state = catalog.State.LOADED
            elif isinstance(place := weights_place(name, self.weights_dir), MissingWeights):
                state, message = catalog.State.WEIGHTS_MISSING, str(place)
            entries.append(catalog.Entry(name, state, message, default=name == self.default))
        return entries
