"""The models a model-serving Triton model (demucs, musicgen) can run, as it tells the gateway: each separation or
MusicGen model by name with its state, so that `dgx-music models list` shows every one, not only the default.
The Triton model answers a request whose LIST_MODELS input is 1 with its catalog as JSON in its MODELS output."""

import json
from dataclasses import asdict, dataclass
from enum import StrEnum


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
