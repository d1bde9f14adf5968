"""The client's exceptions: one per kind of failure a caller can act on, built from the gRPC status and its
google.rpc details."""

import re
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"
_OVER_ONE_MESSAGE = re.compile(r"(?:Sent|Received) message larger than max \((\d+) vs\. (\d+)\)")


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str

    @property
    def reason(self) -> str:
        """The description without the field's name that the gateway's descriptions begin with."""
        return self.description.removeprefix(f"{self.field}: ")


class DgxMusicError(Exception):
    """A call failed; ``code`` is the gRPC status, ``violations`` the request fields at fault (if any),
    ``retry_delay`` the seconds the server asks to wait before trying again (if it said). ``partial_result`` is what
    a call of several stages made before this error ended a later one (a ComposeResult), or None."""

    partial_result: object | None = None

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: tuple[FieldViolation, ...] = (),
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.violations = violations
        self.retry_delay = retry_delay


def faults_told(error: DgxMusicError) -> tuple[str, list[str]]:
    """What to tell of a failure, each fault once: the message, or, when fields are at fault, how many (the message
    is the first one's), and one "field NAME: reason" each."""
    if not error.violations:
        return error.message, []
    count = len(error.violations)
    headline = f"{count} fault{'s' if count > 1 else ''} in the request"
    return headline, [f"field {v.field}: {' '.join(v.reason.split())}" for v in error.violations]


class InvalidRequestError(DgxMusicError):
    """The request was wrong (INVALID_ARGUMENT): fix the named field."""


class TooLargeError(DgxMusicError):
    """The request was over a limit (RESOURCE_EXHAUSTED)."""


class RateLimitedError(TooLargeError):
    """The API key is over its rate limit (RESOURCE_EXHAUSTED): retry after ``retry_delay`` seconds."""


class AuthenticationError(DgxMusicError):
    """The gateway wants an API key (UNAUTHENTICATED): none was sent, or not one it knows."""


class NotFoundError(DgxMusicError):
    """What the request names is not there (NOT_FOUND): no such job of this caller's (or it expired), no such model."""


class UnavailableError(DgxMusicError):
    """The server or a model it needs is down (UNAVAILABLE): retry later."""


class DeadlineExceededError(DgxMusicError):
    """The call ran past its deadline."""


class MissingWeightsError(DgxMusicError):
    """A model's weights are not on the server (FAILED_PRECONDITION); the message says how to get them."""


class ArdourError(DgxMusicError):
    """A running Ardour did not answer the bridge (UNAVAILABLE: not running, its OSC surface off, the dgx-music
    actions not installed) or refused what it was asked (FAILED_PRECONDITION; INVALID_ARGUMENT: a field named)."""


_BY_CODE: dict[grpc.StatusCode, type[DgxMusicError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: TooLargeError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.FAILED_PRECONDITION: MissingWeightsError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
}


def _details(error: grpc.RpcError) -> tuple[tuple[FieldViolation, ...], float | None]:
    """The google.rpc details of a failure: its field violations and its retry delay."""
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key != _DETAILS_KEY or not isinstance(value, bytes):
            continue
        found: list[FieldViolation] = []
        retry_delay = None
        for detail in status_pb2.Status.FromString(value).details:
            bad_request = error_details_pb2.BadRequest()
            retry_info = error_details_pb2.RetryInfo()
            if detail.Unpack(bad_request):
                found += [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
            elif detail.Unpack(retry_info):
                retry_delay = retry_info.retry_delay.ToNanoseconds() / 1e9
        return tuple(found), retry_delay
    return (), None


def from_rpc_error(error: grpc.RpcError) -> DgxMusicError:
    """The most specific DgxMusicError for a failed call (sync or asyncio)."""
    code: grpc.StatusCode = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message: str = (error.details() if hasattr(error, "details") else None) or str(error)
    violations, retry_delay = _details(error)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and (too_large := _OVER_ONE_MESSAGE.search(message)):
        # gRPC's own refusal (either end) of a request over one message: the input's fault, not the server's load.
        sent, most = too_large.groups()
        message = f"request: {sent} bytes, over the {most} bytes one message carries: send a smaller file"
        violations = (FieldViolation("request", message),)
    kind = _BY_CODE.get(code, DgxMusicError)
    if kind is TooLargeError and retry_delay is not None:
        kind = RateLimitedError
    return kind(code, message, violations, retry_delay)
