"""Music source separation with demucs (HTDemucs and friends): weights from a directory or the Hugging Face cache,
chunked separation with progress and cancellation. The `demucs` Triton model is thin glue over this package."""

from separator.errors import (
    AudioTooLong,
    InvalidAudio,
    InvalidOption,
    MissingWeights,
    SeparationCancelled,
    SeparatorError,
    UnknownModel,
    WeightsDownloadFailed,
)
from separator.random_model import FULL, TINY, write_random_htdemucs
from separator.separate import SeparationParams, Separator, Stems, set_threads
from separator.serving import Separators
from separator.weights import DEFAULT_MODEL, AnyModel, known_models, load_model, pull_weights

__all__ = [
    "DEFAULT_MODEL",
    "FULL",
    "TINY",
    "AnyModel",
    "AudioTooLong",
    "InvalidAudio",
    "InvalidOption",
    "MissingWeights",
    "SeparationCancelled",
    "SeparationParams",
    "Separator",
    "SeparatorError",
    "Separators",
    "Stems",
    "UnknownModel",
    "WeightsDownloadFailed",
    "known_models",
    "load_model",
    "pull_weights",
    "set_threads",
    "write_random_htdemucs",
]
