"""The models a model-serving Triton model (demucs, musicgen) can run, as it tells the gateway: each separation or
MusicGen model by name with its state, so that `dgx-music models list` shows every one, not only the default.
The Triton model answers a request whose LIST_MODELS input is 1 with its catalog as JSON in its MODELS output; the
musicgen model adds the fine-tuned adapters it can apply (ADAPTERS), and musicgen_train answers with the one it
saved."""

import json
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    READY = "ready"  # its weights are present: a call loads it
    LOADED = "loaded"  # in memory now: a call runs at once
    WEIGHTS_MISSING = "weights_missing"  # `message` names the files and the `dgx-music models pull` that fetches them


@dataclass(frozen=True)
class Entry:
    name: str
    state: State
    message: str = ""
    default: bool = False  # the model a call that names none runs


def encode(entries: list[Entry]) -> bytes:
    return json.dumps([asdict(entry) for entry in entries]).encode()


def decode(data: bytes) -> list[Entry]:
    return [
        Entry(str(item["name"]), State(item["state"]), str(item.get("message", "")), bool(item.get("default")))
        for item in json.loads(data)
    ]


# A fine-tuned adapter's name: a slug, safe as a folder name (generator.adapters keeps each in one).
ADAPTER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


@dataclass(frozen=True)
class AdapterEntry:
    """A fine-tuned adapter of a MusicGen model, as its recipe (generator.training.save_adapter) tells it."""

    name: str
    base_model: str
    created: float  # Unix time
    base_validation_loss: float
    adapter_validation_loss: float
    steps: int = 0
    training_chunks: int = 0
    validation_chunks: int = 0
    recipe: dict[str, Any] = field(default_factory=dict)  # all of it


def encode_adapters(entries: list[AdapterEntry]) -> bytes:
    return json.dumps([asdict(entry) for entry in entries]).encode()


def decode_adapters(data: bytes) -> list[AdapterEntry]:
    return [AdapterEntry(**item) for item in json.loads(data)]
