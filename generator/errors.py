"""The generator's exceptions, grouped by cause (dgxmusic.errors) so a caller can map each to a status."""

from collections.abc import Sequence

from dgxmusic import errors


class GeneratorError(errors.MusicError):
    """Base of every error the generator raises on purpose."""


class UnknownModel(GeneratorError, errors.UnknownModel):
    """A model name the generator does not know."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown MusicGen model {name!r}; known models: {', '.join(sorted(known))}")
        self.name = name


class MissingWeights(GeneratorError, errors.MissingWeights):
    """A known model whose parts (MusicGen weights, t5-base, encodec_32khz) are not all on the places searched;
    `missing` maps each part to where it was looked for."""

    def __init__(self, name: str, missing: dict[str, str]) -> None:
        parts = "; ".join(f"{part} (looked for {where})" for part, where in missing.items())
        super().__init__(
            f"MusicGen model {name!r} needs its MusicGen weights, t5-base and facebook/encodec_32khz; missing: "
            f"{parts}; fetch them with `dgx-music models pull {name}` on a machine with network access"
        )
        self.name = name
        self.missing = missing


class InvalidGeneration(GeneratorError, errors.FieldError):
    """A request the generator cannot honour."""


class GenerationTooLong(InvalidGeneration, errors.TooLarge):
    """A duration over the limit."""


class GenerationCancelled(GeneratorError, errors.Cancelled):
    """The caller cancelled a generation; raised at the next generated token."""


class DependencyMissing(GeneratorError, errors.Unavailable):
    """A code path needs a package this installation lacks (see `generator._imports`)."""


class WeightsDownloadFailed(GeneratorError, errors.Unavailable):
    """Weights could not be fetched (no network, offline mode)."""


class InvalidTraining(GeneratorError, errors.FieldError):
    """A training request (its hyper-parameters, or its data: `TrainingDataError`) that cannot be honoured."""


class TrainingDataError(InvalidTraining):
    """Training data that cannot be used; `field` is "data" for the set as a whole, "data/<clip name>" for one clip."""


class TrainingCancelled(GeneratorError, errors.Cancelled):
    """The caller cancelled a training run; raised before the next step (the last checkpoint stays for a resume)."""


class InvalidAdapter(GeneratorError, errors.FieldError):
    """An adapter that cannot be used as asked: a name that is not a safe slug, one that exists already, or one
    trained on another base model than the one it is applied to."""


class UnknownAdapter(GeneratorError, errors.UnknownModel):
    """An adapter name the adapter store does not hold."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown adapter {name!r}; adapters: {listed}")
        self.name = name
