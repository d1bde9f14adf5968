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
