"""Text (and melody) to music with MusicGen through audiocraft: weights from a directory or the Hugging Face cache,
batched generation with progress, cancellation and long-form continuation, and LoRA adapters trained on a user's own
audio (generator.training) and applied per batch (generator.adapters). The `musicgen` Triton model is thin glue over
this package."""

from generator.batching import Job, batches, split_clips
from generator.errors import (
    DependencyMissing,
    GenerationCancelled,
    GenerationTooLong,
    GeneratorError,
    InvalidAdapter,
    InvalidGeneration,
    InvalidTraining,
    MissingWeights,
    TrainingCancelled,
    TrainingDataError,
    UnknownAdapter,
    UnknownModel,
    WeightsDownloadFailed,
)
from generator.generate import Audio, GenerationParams, Generator, set_threads
from generator.serving import Generators, canonical_name
from generator.weights import DEBUG, DEBUG_MELODY, DEFAULT_MODEL, MODELS, known_models, load_model, pull_weights

__all__ = [
    "DEBUG",
    "DEBUG_MELODY",
    "DEFAULT_MODEL",
    "MODELS",
    "Audio",
    "DependencyMissing",
    "GenerationCancelled",
    "GenerationParams",
    "GenerationTooLong",
    "Generator",
    "GeneratorError",
    "Generators",
    "InvalidAdapter",
    "InvalidGeneration",
    "InvalidTraining",
    "Job",
    "MissingWeights",
    "TrainingCancelled",
    "TrainingDataError",
    "UnknownAdapter",
    "UnknownModel",
    "WeightsDownloadFailed",
    "batches",
    "canonical_name",
    "known_models",
    "load_model",
    "pull_weights",
    "set_threads",
    "split_clips",
]
