"""The transcriber's exceptions: each names the request field at fault so the gateway can report it."""

from dgxmusic.errors import FieldError, TooLarge


class InvalidTranscriptionRequest(FieldError):
    """A request the transcriber cannot honour."""


class InvalidAudio(InvalidTranscriptionRequest):
    """Audio that cannot be transcribed: wrong shape or type, NaN/Inf samples, silence, too short."""


class AudioTooLong(InvalidAudio, TooLarge):
    """Audio over the length limit."""
