"""Errors from Triton and from the project's libraries become gRPC statuses with google.rpc details."""

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from tritonclient.utils import InferenceServerException

from dgxmusic.errors import Cancelled, FieldError, MissingWeights, MusicError, TooLarge, Unavailable
from dgxmusic.models import encode_error, unexpected_error_message
from gateway.errors import ApiError, from_triton, invalid_argument, request_errors, triton_errors


def _encoded(error: MusicError) -> str:
    encoded = encode_error(error)
    assert encoded is not None
    return encoded[0]


def test_field_errors_carry_a_bad_request_detail() -> None:
    status = invalid_argument("options.bpm", "must be 40-300").to_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    details = dict(status.trailing_metadata)["grpc-status-details-bin"]
    bad_request = error_details_pb2.BadRequest()
    assert status_pb2.Status.FromString(details).details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "options.bpm"


@pytest.mark.parametrize(
    ("status", "message", "code", "field"),
    [
        (
            "StatusCode.INVALID_ARGUMENT",
            _encoded(FieldError("soundfont", "unknown SoundFont 'x'")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "soundfont",
        ),
        (
            "StatusCode.INVALID_ARGUMENT",
            "[request id: 7] " + _encoded(FieldError("midi", "truncated")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "midi",
        ),
        # On a decoupled stream the code is lost: the message alone says what the error is.
        (None, _encoded(TooLarge("midi", "lasts 700 s")), grpc.StatusCode.RESOURCE_EXHAUSTED, "midi"),
        (None, _encoded(MissingWeights("fetch them")), grpc.StatusCode.FAILED_PRECONDITION, None),
        (None, _encoded(Unavailable("no torchaudio")), grpc.StatusCode.UNAVAILABLE, None),
        ("StatusCode.CANCELLED", _encoded(Cancelled("cancelled")), grpc.StatusCode.CANCELLED, None),
        ("StatusCode.INVALID_ARGUMENT", "unexpected shape for input", grpc.StatusCode.INVALID_ARGUMENT, None),
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", grpc.StatusCode.UNAVAILABLE, None),
        ("StatusCode.INTERNAL", "Stub process 'x' is not healthy.", grpc.StatusCode.UNAVAILABLE, None),
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", grpc.StatusCode.DEADLINE_EXCEEDED, None),
        (None, "odd", grpc.StatusCode.INTERNAL, None),
        # A model's bug, on a decoupled stream (no status) or not: INTERNAL, never blamed on a request field.
        (None, unexpected_error_message("demucs", KeyError("x")), grpc.StatusCode.INTERNAL, None),
        (
            "StatusCode.INTERNAL",
            "[request id: 3] " + unexpected_error_message("audio", ValueError("bad: thing")),
            grpc.StatusCode.INTERNAL,
            None,
        ),
    ],
)
def test_triton_errors(status: str | None, message: str, code: grpc.StatusCode, field: str | None) -> None:
    error = from_triton(InferenceServerException(message, status=status), "fluidsynth")
    assert (error.code, error.field) == (code, field)


def test_library_errors_name_the_api_field() -> None:
    import composer

    with pytest.raises(ApiError) as caught, request_errors(prefix="options."):
        composer.validate(composer.SongRequest(prompt="trap", bpm=0))
    assert (caught.value.code, caught.value.field) == (grpc.StatusCode.INVALID_ARGUMENT, "options.bpm")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.DEADLINE_EXCEEDED),
        (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
        (grpc.StatusCode.CANCELLED, grpc.StatusCode.CANCELLED),
    ],
)
def test_raw_grpc_errors_of_triton_streams_keep_their_code(code: grpc.StatusCode, expected: grpc.StatusCode) -> None:
    raw = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="stream ended")
    with pytest.raises(ApiError) as caught, triton_errors("musicgen"):
        raise raw
    assert caught.value.code == expected
    assert "musicgen" in caught.value.message
