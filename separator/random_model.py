"""Randomly initialised HTDemucs models written in demucs' own file format (`<sig>-<checksum>.th` + `<name>.yaml`),
so tests and benchmarks load them through the real loading path without downloading weights."""

import hashlib
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Final

import torch
import yaml
from demucs.htdemucs import HTDemucs
from demucs.states import get_state, save_with_checksum

SOURCES: Final = ("drums", "bass", "other", "vocals")

# Small enough for unit tests (about 0.15 s per 4 s chunk on 2 CPU cores once warm). Shrinking `depth` or `nfft`
# instead makes HTDemucs far slower and hungrier; `dconv_comp` must divide `channels` or the DConv branch is empty.
TINY: Final[Mapping[str, object]] = {
    "channels": 8,
    "depth": 4,
    "t_layers": 1,
    "t_heads": 2,
    "segment": 4,
}

# HTDemucs at its class defaults (channels 48, depth 4, nfft 4096, 5 transformer layers; 26.9 M parameters) with
# the released `htdemucs`' 7.8 s segment: its cost, not its exact hyper-parameters (not readable without weights).
FULL: Final[Mapping[str, object]] = {"segment": Fraction(39, 5)}


def write_random_htdemucs(
    directory: Path,
    name: str,
    architecture: Mapping[str, object] = TINY,
    sources: Sequence[str] = SOURCES,
    seed: int = 0,
) -> None:
    """Write model `name` (one random HTDemucs) into `directory`, loadable by `load_model(name, directory)`."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = HTDemucs(sources=list(sources), **architecture)
    args, kwargs = model._init_args_kwargs
    package = {"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": get_state(model, None)}
    signature = hashlib.sha256(name.encode()).hexdigest()[:8]
    save_with_checksum(package, directory / f"{signature}.th")
    (directory / f"{name}.yaml").write_text(yaml.safe_dump({"models": [signature]}))
