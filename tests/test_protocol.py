"""The gateway <-> model protocol (dgxmusic.models) is what the models' config.pbtxt declare, and its in-band errors
decode to what was encoded."""

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from dgxmusic import errors
from dgxmusic.models import MODELS, Model, decode_error, encode_error, unexpected_error_message

REPOSITORY = Path(__file__).resolve().parents[1] / "model_repository"
# config.pbtxt's data types -> Triton's wire datatypes.
_DATATYPES = {"TYPE_FP32": "FP32", "TYPE_INT32": "INT32", "TYPE_INT64": "INT64", "TYPE_STRING": "BYTES"}


@pytest.mark.parametrize("model", MODELS, ids=[model.NAME for model in MODELS])
def test_every_tensor_is_the_one_config_pbtxt_declares(model: type[Model]) -> None:
    path = REPOSITORY / model.NAME / "config.pbtxt"
    config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    declared = {
        tensor.name: _DATATYPES[model_config_pb2.DataType.Name(tensor.data_type)]
        for tensor in [*config.input, *config.output]
    }
    assert config.name == model.NAME
    assert {name: tensor.datatype for name, tensor in model.tensors().items()} == declared


@pytest.mark.parametrize(
    "error",
    [
        errors.FieldError("midi", "not a MIDI file: truncated"),
        errors.TooLarge("prompt", "900 bars is over the limit"),
        errors.MissingWeights("weights of 'htdemucs' are missing (in /w: a.th); fetch them"),
        errors.Unavailable("the SoundFont will not load"),
        errors.Cancelled("the client no longer waits"),
        errors.UnknownModel("unknown demucs model 'x'"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_in_band_errors_decode_to_what_was_encoded(error: errors.MusicError) -> None:
    encoded = encode_error(error)
    assert encoded is not None
    message, _ = encoded
    decoded = decode_error("[request id: 7] " + message)
    assert type(decoded) is type(error)
    assert str(decoded) == str(error)


def test_messages_that_are_not_in_band_errors_decode_to_nothing() -> None:
    for message in ("Stub process 'x' is not healthy.", unexpected_error_message("demucs", KeyError("a: b")), "odd"):
        assert decode_error(message) is None
    assert encode_error(errors.MusicError("a bug")) is None
