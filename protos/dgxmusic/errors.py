"""The server side's one error hierarchy, grouped by cause. Every domain package (composer, renderers, transcriber,
separator, generator) and the audio codec raise subclasses of these; the gateway maps each cause to one gRPC status
(gateway.errors), and the models carry them through Triton (dgxmusic.models). Clients see them as
`clients.errors` exceptions built from the status."""


class MusicError(Exception):
    """Base of every error the server side raises on purpose."""


class FieldError(MusicError, ValueError):
    """A request field that cannot be honoured (INVALID_ARGUMENT); `field` is its name, `reason` a human sentence."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TooLarge(FieldError):
    """A request field over a size or length limit (RESOURCE_EXHAUSTED)."""


class UnknownModel(MusicError, LookupError):
    """A model name that nothing on this server knows (NOT_FOUND)."""


class MissingWeights(MusicError):
    """A known model whose weights are not where they are looked for (FAILED_PRECONDITION); the message says what
    to fetch and how."""


class Unavailable(MusicError):
    """Something the request needs cannot be used now: a package this installation lacks, a SoundFont that will
    not load, a download that failed (UNAVAILABLE)."""


class Cancelled(MusicError):
    """The caller went away, or its deadline passed, before the work finished (CANCELLED)."""
