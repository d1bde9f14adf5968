"""The composer's exceptions: each names the request field at fault so the gateway can report it."""


class InvalidSongRequest(ValueError):
    """A request the composer cannot honour; `field` is the proto field name, `reason` a human sentence."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SongRequestTooLarge(InvalidSongRequest):
    """A request over a size limit (the gateway answers RESOURCE_EXHAUSTED rather than INVALID_ARGUMENT)."""
