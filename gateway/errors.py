"""Every failure a client can see, as one exception type carrying a gRPC status code and google.rpc details, and
the context managers that turn lower-layer errors (Triton, the composer, the renderer) into it."""

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from tritonclient.utils import InferenceServerException

import composer
import transcriber
from clients.audio import AudioFormatError
from deploy.triton import parse_error_message


class ApiError(Exception):
    """An error answered to the client as a gRPC status; ``field`` (if any) becomes a BadRequest violation."""

    def __init__(self, code: grpc.StatusCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def to_status(self) -> grpc.Status:
        details = []
        if self.field is not None:
            violation = error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.message)
            packed = any_pb2.Any()
            packed.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
            details.append(packed)
        code_number: int = self.code.value[0]
        status = status_pb2.Status(code=code_number, message=self.message, details=details)
        return rpc_status.to_status(status)


def invalid_argument(field: str, reason: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {reason}", field)


def too_large(field: str, reason: str) -> ApiError:
    return ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{field}: {reason}", field)


# Per model: the fields its in-band errors name -> the API field a client sent them in.
_OPTIONS = {name: f"options.{name}" for name in ("bpm", "key", "bars", "seconds", "seed", "time_signature")}
_MODEL_FIELDS: dict[str, dict[str, str]] = {
    "text2midi": {"prompt": "prompt", **_OPTIONS},
    "fluidsynth": {"soundfont": "soundfont", "midi": "midi", "sample_rate": "audio_format.sample_rate"},
    "basic_pitch": {"windows": "audio"},
    "demucs": {"audio": "audio", "sample_rate": "audio"},
    "musicgen": {
        "prompt": "prompt",
        "duration": "seconds",
        "melody": "melody_audio",
        **{name: name for name in ("temperature", "top_k", "top_p", "cfg_coef", "seed")},
    },
}


# Triton's answer to a request whose `timeout` ran out while it waited in the model's queue (the dynamic batcher's
# queue policy, timeout_action REJECT); it comes with status UNAVAILABLE, or none on a decoupled stream.
QUEUE_TIMEOUT_MESSAGE = "Request timeout expired"


def deadline_exceeded(model: str) -> ApiError:
    return ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, f"deadline exceeded while waiting for model {model}")


def is_queue_timeout(exc: InferenceServerException) -> bool:
    return QUEUE_TIMEOUT_MESSAGE in str(exc.message() or "")


def from_triton(exc: InferenceServerException, model: str) -> ApiError:
    status = str(exc.status() or "")
    name = status.removeprefix("StatusCode.")
    code = grpc.StatusCode[name] if name in grpc.StatusCode.__members__ else grpc.StatusCode.INTERNAL
    message = str(exc.message() or exc)
    error = parse_error_message(message)  # Triton reports "StatusCode.X"; the message names the model's field
    if error is not None and error.field == "weights":  # the model runs, but its weights are not on this server
        return ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"model {model}: {error.reason}")
    # Errors on a decoupled model's stream arrive without a status code; the field prefix says what they are.
    fields = _MODEL_FIELDS.get(model, {})
    if error is not None and error.field in fields and (code == grpc.StatusCode.INVALID_ARGUMENT or not status):
        make = too_large if error.too_large else invalid_argument
        return make(fields[error.field], error.reason)
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


@contextmanager
def request_errors(prefix: str = "", prompt_field: str = "prompt") -> Iterator[None]:
    """Validation errors of the project's libraries -> INVALID_ARGUMENT / RESOURCE_EXHAUSTED naming the field
    (``prefix`` for the song options, ``prompt_field`` for the prompt)."""
    try:
        yield
    except composer.SongRequestTooLarge as exc:
        raise too_large(_song_field(exc.field, prefix, prompt_field), exc.reason) from exc
    except composer.InvalidSongRequest as exc:
        raise invalid_argument(_song_field(exc.field, prefix, prompt_field), exc.reason) from exc
    except AudioFormatError as exc:
        raise invalid_argument(exc.field, exc.reason) from exc
    except transcriber.AudioTooLong as exc:
        raise too_large("audio", exc.reason) from exc
    except transcriber.InvalidAudio as exc:
        raise invalid_argument("audio", exc.reason) from exc
    except transcriber.InvalidTranscriptionRequest as exc:
        raise invalid_argument(f"{prefix}{exc.field}", exc.reason) from exc


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


def _song_field(field: str, prefix: str, prompt_field: str) -> str:
    return prompt_field if field == "prompt" else f"{prefix}{field}"
