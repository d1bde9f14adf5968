"""Every failure a client can see, as one exception type carrying a gRPC status code and google.rpc details; the
one table that maps each cause of the server side's errors (dgxmusic.errors) to a status; and the context managers
that turn lower-layer errors (Triton's, the project's libraries') into it, httpx-style."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from tritonclient.utils import InferenceServerException

from dgxmusic.errors import Cancelled, FieldError, MissingWeights, MusicError, TooLarge, Unavailable, UnknownModel
from dgxmusic.models import BASIC_PITCH, DEMUCS, FLUIDSYNTH, MUSICGEN, MUSICGEN_TRAIN, TEXT2MIDI, decode_error


class ApiError(Exception):
    """An error answered to the client as a gRPC status; each (field, description) in ``violations`` becomes a
    BadRequest field violation, and ``retry_after`` (seconds) a RetryInfo."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        field: str | None = None,
        *,
        violations: Sequence[tuple[str, str]] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = list(violations) or ([(field, message)] if field is not None else [])
        self.retry_after = retry_after

    @property
    def field(self) -> str | None:
        """The (first) field at fault."""
        return self.violations[0][0] if self.violations else None

    def to_status(self) -> grpc.Status:
        details = []
        if self.violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
                    for field, description in self.violations
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(bad_request)
            details.append(packed)
        if self.retry_after is not None:
            retry_info = error_details_pb2.RetryInfo()
            retry_info.retry_delay.FromNanoseconds(round(self.retry_after * 1e9))
            packed = any_pb2.Any()
            packed.Pack(retry_info)
            details.append(packed)
        code_number: int = self.code.value[0]
        status = status_pb2.Status(code=code_number, message=self.message, details=details)
        return rpc_status.to_status(status)


def invalid_argument(field: str, reason: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {reason}", field)


def too_large(field: str, reason: str) -> ApiError:
    return ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{field}: {reason}", field)


def deadline_exceeded(model: str) -> ApiError:
    return ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, f"deadline exceeded while waiting for model {model}")


# Each cause of dgxmusic.errors -> its status; most specific first. Anything else is a bug: INTERNAL.
STATUS_BY_CAUSE: list[tuple[type[MusicError], grpc.StatusCode]] = [
    (TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (FieldError, grpc.StatusCode.INVALID_ARGUMENT),
    (MissingWeights, grpc.StatusCode.FAILED_PRECONDITION),
    (UnknownModel, grpc.StatusCode.NOT_FOUND),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (Cancelled, grpc.StatusCode.CANCELLED),
]


def status_of(error: MusicError) -> grpc.StatusCode:
    return next((code for cause, code in STATUS_BY_CAUSE if isinstance(error, cause)), grpc.StatusCode.INTERNAL)


def from_library(error: MusicError, field: str | None = None, about: str = "") -> ApiError:
    """The client's view of a library's (or a model's) error: a field error names `field` (the API's name of the
    error's own field); other errors are told `about` something ("model demucs")."""
    code = status_of(error)
    if isinstance(error, FieldError):
        name = field or error.field
        return ApiError(code, f"{name}: {error.reason}", name)
    if code == grpc.StatusCode.UNAVAILABLE and about:
        return ApiError(code, f"{about} is unavailable: {error}")
    return ApiError(code, f"{about}: {error}" if about else str(error))


@contextmanager
def request_errors(prefix: str = "", renames: Mapping[str, str] | None = None) -> Iterator[None]:
    """Errors of the project's libraries -> their status, a field error naming the API field: ``renames`` of the
    library's field name if given, else ``prefix`` + it."""
    try:
        yield
    except MusicError as exc:
        field = None
        if isinstance(exc, FieldError):
            field = (renames or {}).get(exc.field, prefix + exc.field)
        raise from_library(exc, field) from exc


@contextmanager
def field_renamed(inner: str, outer: str) -> Iterator[None]:
    """Errors about ``inner`` (as a shared step names it, e.g. "midi") re-named as the caller's field ``outer``."""
    try:
        yield
    except ApiError as exc:
        if exc.field != inner:
            raise
        message = f"{outer}: {exc.message.removeprefix(f'{inner}: ')}"
        raise ApiError(exc.code, message, outer) from exc


# -- Triton ------------------------------------------------------------------------------------------------------

# Per model: the fields its in-band errors name -> the API field a client sent them in.
_OPTIONS = {name: f"options.{name}" for name in ("bpm", "key", "bars", "seconds", "seed", "time_signature")}
_MODEL_FIELDS: dict[str, dict[str, str]] = {
    TEXT2MIDI: {"prompt": "prompt", **_OPTIONS},
    FLUIDSYNTH: {
        "soundfont": "soundfont",
        "midi": "midi",
        "sample_rate": "audio_format.sample_rate",
        "instruments": "instruments",  # and instruments[i].track / .instrument, as they are
        "instrument_set": "instrument_set",
    },
    BASIC_PITCH: {"windows": "audio"},
    DEMUCS: {
        "audio": "audio",
        "sample_rate": "audio",
        **{name: f"options.{name}" for name in ("model", "two_stems", "shifts", "overlap", "segment")},
    },
    MUSICGEN: {
        "prompt": "prompt",
        "duration": "seconds",
        "melody": "melody_audio",
        "model": "model",
        "continued": "continue_audio",
        "adapter": "adapter",
        **{name: name for name in ("temperature", "top_k", "top_p", "cfg_coef", "seed")},
    },
    MUSICGEN_TRAIN: {"data": "data", "model": "model", "name": "name", "recipe": "request"},
}
# Triton's answer to a request whose `timeout` ran out while it waited in the model's queue (the dynamic batcher's
# queue policy, timeout_action REJECT); it comes with status UNAVAILABLE, or none on a decoupled stream.
QUEUE_TIMEOUT_MESSAGE = "Request timeout expired"


def is_queue_timeout(exc: InferenceServerException) -> bool:
    return QUEUE_TIMEOUT_MESSAGE in str(exc.message() or "")


def from_triton(exc: InferenceServerException, model: str) -> ApiError:
    status = str(exc.status() or "")
    name = status.removeprefix("StatusCode.")
    code = grpc.StatusCode[name] if name in grpc.StatusCode.__members__ else grpc.StatusCode.INTERNAL
    message = str(exc.message() or exc)
    error = decode_error(message)  # a model's in-band error (dgxmusic.models)
    if isinstance(error, FieldError):
        fields = _MODEL_FIELDS.get(model, {})
        name, index, rest = error.field.partition("[")  # a repeated field's element: instruments[2].track
        if name in fields:
            return from_library(error, fields[name] + index + rest)
        return ApiError(status_of(error), f"model {model}: {error}")  # a field the API does not have
    if error is not None:
        return from_library(error, about=f"model {model}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED or QUEUE_TIMEOUT_MESSAGE in message:
        return deadline_exceeded(model)
    if code == grpc.StatusCode.UNAVAILABLE or "is not healthy" in message:
        return ApiError(grpc.StatusCode.UNAVAILABLE, f"model {model} is unavailable: {message}")
    return ApiError(code, f"model {model}: {message}")


@contextmanager
def triton_errors(model: str) -> Iterator[None]:
    try:
        yield
    except InferenceServerException as exc:
        raise from_triton(exc, model) from exc
    except grpc.aio.AioRpcError as exc:  # tritonclient's stream_infer lets the raw gRPC error through
        status = InferenceServerException(str(exc.details() or exc.code().name), status=str(exc.code()))
        raise from_triton(status, model) from exc
