"""The client's exceptions: one per kind of failure a caller can act on, built from the gRPC status and its
google.rpc details."""

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DgxMusicError(Exception):
    """A call failed; ``code`` is the gRPC status, ``violations`` the request fields at fault (if any)."""

    def __init__(self, code: grpc.StatusCode, message: str, violations: tuple[FieldViolation, ...] = ()) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.violations = violations


class InvalidRequestError(DgxMusicError):
    """The request was wrong (INVALID_ARGUMENT): fix the named field."""


class TooLargeError(DgxMusicError):
    """The request was over a limit (RESOURCE_EXHAUSTED)."""


class UnavailableError(DgxMusicError):
    """The server or a model it needs is down (UNAVAILABLE): retry later."""


class DeadlineExceededError(DgxMusicError):
    """The call ran past its deadline."""


class MissingWeightsError(DgxMusicError):
    """A model's weights are not on the server (FAILED_PRECONDITION); the message says how to get them."""


_BY_CODE: dict[grpc.StatusCode, type[DgxMusicError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: TooLargeError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.FAILED_PRECONDITION: MissingWeightsError,
}


def _violations(error: grpc.RpcError) -> tuple[FieldViolation, ...]:
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key != _DETAILS_KEY or not isinstance(value, bytes):
            continue
        found: list[FieldViolation] = []
        for detail in status_pb2.Status.FromString(value).details:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                found += [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
        return tuple(found)
    return ()


def from_rpc_error(error: grpc.RpcError) -> DgxMusicError:
    """The most specific DgxMusicError for a failed call (sync or asyncio)."""
    code: grpc.StatusCode = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message: str = (error.details() if hasattr(error, "details") else None) or str(error)
    return _BY_CODE.get(code, DgxMusicError)(code, message, _violations(error))
