"""The transcriber's exceptions: each names the request field at fault so the gateway can report it."""


class InvalidTranscriptionRequest(ValueError):
    """A request the transcriber cannot honour; `field` is the proto field name, `reason` a human sentence."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidAudio(InvalidTranscriptionRequest):
    """Audio that cannot be transcribed: wrong shape or type, NaN/Inf samples, silence, too short."""


class AudioTooLong(InvalidAudio):
    """Audio over the length limit (the gateway answers RESOURCE_EXHAUSTED rather than INVALID_ARGUMENT)."""
