"""The separator's exceptions, grouped by cause (dgxmusic.errors) so a caller can map each to a status."""

from collections.abc import Sequence

from dgxmusic import errors


class SeparatorError(errors.MusicError):
    """Base of every error the separator raises on purpose."""


class UnknownModel(SeparatorError, errors.UnknownModel):
    """A model name that neither demucs nor the weights directory knows."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown demucs model {name!r}; known models: {', '.join(sorted(known))}")
        self.name = name


class MissingWeights(SeparatorError, errors.MissingWeights):
    """A known model whose weight files are on no place searched; `missing` maps each place to the files absent."""

    def __init__(self, name: str, missing: dict[str, list[str]]) -> None:
        places = "; ".join(f"in {place}: {', '.join(files)}" for place, files in missing.items())
        super().__init__(
            f"weights of demucs model {name!r} are missing ({places}); fetch them with "
            f"`dgx-music models pull {name}` on a machine with network access"
        )
        self.name = name
        self.missing = missing


class InvalidAudio(SeparatorError, errors.FieldError):
    """Audio the separator cannot take."""


class InvalidOption(SeparatorError, errors.FieldError):
    """A separation option (the model's name, two_stems, shifts...) the separator cannot honour."""


class AudioTooLong(InvalidAudio, errors.TooLarge):
    """Audio over the length limit."""


class SeparationCancelled(SeparatorError, errors.Cancelled):
    """The caller cancelled a separation; raised between chunks."""


class WeightsDownloadFailed(SeparatorError, errors.Unavailable):
    """Weights could not be fetched (no network, offline mode, unknown repository)."""
