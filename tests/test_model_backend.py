"""The models' shared glue (deploy.backend) and the text2midi and fluidsynth models' execute(), run against a fake
of Triton's python-backend module: in-band answers, errors that decode to what was raised, bugs that fail one
request, and requests whose client is gone."""

import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import fake_pb_utils as pb_utils
import numpy as np
import pytest

from deploy import backend
from dgxmusic.errors import FieldError, TooLarge
from dgxmusic.models import DEADLINE_PARAMETER, Fluidsynth, Text2Midi, decode_error

REPOSITORY = Path(__file__).resolve().parents[1] / "model_repository"


def load_model(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_model", REPOSITORY / name / "1" / "model.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error_of(response: Any) -> tuple[int, str]:
    error = response.error()
    assert error is not None
    return error.code(), error.message()


def test_an_answer_is_what_serve_returned() -> None:
    response = pb_utils.InferenceResponse(output_tensors=[])
    assert backend.answer("m", lambda: response) is response


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (FieldError("midi", "not a MIDI file"), pb_utils.TritonError.INVALID_ARG),
        (TooLarge("midi", "lasts 700 s"), pb_utils.TritonError.INVALID_ARG),
    ],
)
def test_a_request_error_is_answered_in_band_and_decodes_to_itself(raised: FieldError, code: int) -> None:
    def serve() -> Any:
        raise raised

    sent_code, message = error_of(backend.answer("fluidsynth", serve))
    decoded = decode_error(message)
    assert sent_code == code
    assert type(decoded) is type(raised)
    assert str(decoded) == str(raised)


def test_a_bug_is_a_short_internal_error_with_the_traceback_in_the_log() -> None:
    def serve() -> Any:
        raise KeyError("boom")

    code, message = error_of(backend.answer("text2midi", serve))
    assert code == pb_utils.TritonError.INTERNAL
    assert message.startswith("text2midi failed unexpectedly (KeyError")
    assert "Traceback" not in message
    assert decode_error(message) is None
    assert "Traceback" in pb_utils.Logger.lines[-1][1]


def test_parameters_and_device_come_from_what_triton_passes() -> None:
    config = {"parameters": {"THREADS": {"string_value": "3"}}}
    args = {"model_config": json.dumps(config), "model_instance_kind": "GPU", "model_instance_device_id": "1"}
    assert backend.model_parameters(args) == {"THREADS": "3"}
    assert backend.instance_device(args) == "cuda:1"
    assert backend.instance_device({"model_instance_kind": "CPU"}) == "cpu"


def test_a_request_past_its_deadline_or_cancelled_is_given_up() -> None:
    assert not backend.given_up(pb_utils.Request({}, request_parameters={DEADLINE_PARAMETER: time.time() + 60}))
    assert backend.given_up(pb_utils.Request({}, request_parameters={DEADLINE_PARAMETER: time.time() - 1}))
    assert backend.given_up(pb_utils.Request({}, cancelled=True))


def text2midi_request(prompt: str, options: dict[str, Any]) -> pb_utils.Request:
    return pb_utils.Request(
        {
            Text2Midi.PROMPT.name: np.array([[prompt.encode()]], dtype=np.object_),
            Text2Midi.OPTIONS.name: np.array([[json.dumps(options).encode()]], dtype=np.object_),
        }
    )


def test_text2midi_answers_each_request_of_a_batch_on_its_own() -> None:
    model = load_model("text2midi").TritonPythonModel()
    good, bad_key, too_long, malformed = model.execute(
        [
            text2midi_request("trap 140", {"bars": 2}),
            text2midi_request("trap", {"key": "H major"}),
            text2midi_request("trap", {"bars": 100_000}),
            text2midi_request("trap", {"tempo": 1}),
        ]
    )
    assert bytes(pb_utils.output(good, Text2Midi.MIDI.name).reshape(-1)[0]).startswith(b"MThd")
    assert json.loads(pb_utils.output(good, Text2Midi.METADATA.name).reshape(-1)[0])["bpm"] == 140
    key_error = decode_error(error_of(bad_key)[1])
    assert isinstance(key_error, FieldError)
    assert key_error.field == "key"
    assert isinstance(decode_error(error_of(too_long)[1]), TooLarge)
    assert error_of(malformed)[0] == pb_utils.TritonError.INVALID_ARG


def test_fluidsynth_skips_a_request_whose_client_is_gone() -> None:
    model = load_model("fluidsynth")
    instance = model.TritonPythonModel()
    instance.initialize({})
    gone = pb_utils.Request({Fluidsynth.MIDI.name: np.array([[b"MThd"]], dtype=np.object_)}, cancelled=True)
    [response] = instance.execute([gone])
    assert error_of(response)[0] == pb_utils.TritonError.CANCELLED
    assert ("info", model.SKIPPED) in pb_utils.Logger.lines
