"""The composer's exceptions: each names the request field at fault so the gateway can report it."""

from dgxmusic.errors import FieldError, TooLarge


class InvalidSongRequest(FieldError):
    """A request the composer cannot honour."""


class SongRequestTooLarge(InvalidSongRequest, TooLarge):
    """A request over a size limit ("900 bars")."""
