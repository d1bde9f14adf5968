"""The separator's exceptions, grouped by cause so a caller (the Triton model, the gateway) can map each to a status."""

from collections.abc import Sequence


class SeparatorError(Exception):
    """Base of every error the separator raises on purpose."""


class UnknownModel(SeparatorError, ValueError):
    """A model name that neither demucs nor the weights directory knows."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown demucs model {name!r}; known models: {', '.join(sorted(known))}")
        self.name = name


class MissingWeights(SeparatorError):
    """A known model whose weight files are on no place searched; `missing` maps each place to the files absent."""

    def __init__(self, name: str, missing: dict[str, list[str]]) -> None:
        places = "; ".join(f"in {place}: {', '.join(files)}" for place, files in missing.items())
        super().__init__(
            f"weights of demucs model {name!r} are missing ({places}); fetch them with "
            f"`dgx-music models pull {name}` on a machine with network access"
        )
        self.name = name
        self.missing = missing


class InvalidAudio(SeparatorError, ValueError):
    """Audio the separator cannot take; `field` names the request field, `reason` is a human sentence."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AudioTooLong(InvalidAudio):
    """Audio over the length limit (answered RESOURCE_EXHAUSTED rather than INVALID_ARGUMENT)."""


class SeparationCancelled(SeparatorError):
    """The caller cancelled a separation; raised between chunks."""


class WeightsDownloadFailed(SeparatorError):
    """Weights could not be fetched (no network, offline mode, unknown repository)."""
