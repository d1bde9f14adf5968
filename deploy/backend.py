"""What every Triton python-backend model (`model_repository/*/1/model.py`) shares: its config parameters and
device, reading its inputs, and answering in-band - a request it cannot serve gets its error (dgxmusic.models'
encoding), a bug in the model gets a short INTERNAL error with the traceback in Triton's log - so that one request
never fails a batch and the model keeps serving.

`triton_python_backend_utils` exists only inside Triton's stub process; the tests put a fake of it in its place."""

import json
import traceback
from collections.abc import Callable
from typing import Any

import triton_python_backend_utils as pb_utils

from dgxmusic.errors import Cancelled, MusicError
from dgxmusic.models import Tensor, encode_error, past_deadline, unexpected_error_message

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def instance_device(args: dict[str, str]) -> str:
    """The torch device of a model instance: "cuda:N" for a KIND_GPU instance (the planner's GPU profiles), "cpu"
    otherwise. `args` is what Triton passes to initialize()."""
    if args.get("model_instance_kind") == "GPU":
        return f"cuda:{args.get('model_instance_device_id', '0')}"
    return "cpu"


def model_parameters(args: dict[str, str]) -> dict[str, str]:
    """The string parameters of a model's config.pbtxt, from the `args` Triton passes to initialize(). A parameter
    set there wins over the settings (the environment) for that model."""
    parameters: dict[str, dict[str, str]] = json.loads(args["model_config"]).get("parameters", {})
    return {key: value.get("string_value", "") for key, value in parameters.items()}


def array(request: Any, tensor: Tensor) -> Any | None:
    """The request's input as a numpy array; None when the request left out an optional input."""
    found = pb_utils.get_input_tensor_by_name(request, tensor.name)
    return None if found is None else found.as_numpy()


def required(request: Any, tensor: Tensor) -> Any:
    """An input the model's config.pbtxt makes required (Triton refuses a request without it), as a numpy array."""
    return pb_utils.get_input_tensor_by_name(request, tensor.name).as_numpy()


def scalar(request: Any, tensor: Tensor) -> Any | None:
    """The first value of an input (a Python scalar, or bytes); None when it was left out."""
    values = array(request, tensor)
    if values is None:
        return None
    value = values.reshape(-1)[0]
    return value.item() if hasattr(value, "item") else value


def text(request: Any, tensor: Tensor) -> str | None:
    """A one-value BYTES input as text."""
    value = scalar(request, tensor)
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def given_up(request: Any) -> bool:
    """Whether the request's client has stopped waiting (cancelled it, or its deadline passed)."""
    return bool(request.is_cancelled()) or past_deadline(request.parameters())


def raise_if_given_up(request: Any) -> None:
    if given_up(request):
        raise Cancelled("the client no longer waits for this request")


def error_response(model: str, exc: BaseException) -> Any:
    """The in-band answer to a request the model could not serve: the error's own encoding for a request it cannot
    serve (a MusicError), or, for a bug, a short INTERNAL error with the traceback in Triton's log."""
    encoded = encode_error(exc) if isinstance(exc, MusicError) else None
    if encoded is None:
        pb_utils.Logger.log_error(traceback.format_exc())
        encoded = unexpected_error_message(model, exc), "INTERNAL"
    message, code = encoded
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, getattr(pb_utils.TritonError, code)))


def answer(model: str, serve: Callable[[], Any]) -> Any:
    """serve()'s response, or the in-band error for what it raised; one request never fails its batch."""
    try:
        return serve()
    except Exception as exc:
        return error_response(model, exc)
