"""A fake of `triton_python_backend_utils`, the module Triton's python backend gives a model.py inside its stub
process (and nowhere else), holding just what our models use. Importing this module installs it, so the models' glue
(deploy.backend, model_repository/*/1/model.py) runs in a unit test; Triton itself still proves them in the stack
tests."""

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1


class Tensor:
    def __init__(self, name: str, value: npt.ArrayLike) -> None:
        self._name = name
        self._value = np.asarray(value)

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> Any:
        return self._value


class TritonError:
    UNKNOWN, INTERNAL, NOT_FOUND, INVALID_ARG, UNAVAILABLE, UNSUPPORTED, ALREADY_EXISTS, CANCELLED = range(8)

    def __init__(self, message: str, code: int = 1) -> None:
        self._message = message
        self._code = code

    def message(self) -> str:
        return self._message

    def code(self) -> int:
        return self._code


class InferenceResponse:
    def __init__(self, output_tensors: list[Tensor] | None = None, error: TritonError | None = None) -> None:
        self._tensors = output_tensors or []
        self._error = error

    def output_tensors(self) -> list[Tensor]:
        return self._tensors

    def error(self) -> TritonError | None:
        return self._error

    def has_error(self) -> bool:
        return self._error is not None


class Logger:
    lines: list[tuple[str, str]] = []  # noqa: RUF012  # what the models logged, for the tests to read

    @classmethod
    def log_info(cls, message: str) -> None:
        cls.lines.append(("info", message))

    @classmethod
    def log_warn(cls, message: str) -> None:
        cls.lines.append(("warn", message))

    @classmethod
    def log_error(cls, message: str) -> None:
        cls.lines.append(("error", message))


@dataclass
class ResponseSender:
    sent: list[tuple[InferenceResponse, int]] = field(default_factory=list)

    def send(self, response: InferenceResponse | None = None, flags: int = 0) -> None:
        assert response is not None
        self.sent.append((response, flags))


@dataclass
class Request:
    """An inference request as a model sees it."""

    inputs: dict[str, npt.ArrayLike]
    outputs: tuple[str, ...] = ()
    cancelled: bool = False
    request_parameters: dict[str, Any] = field(default_factory=dict)
    sender: ResponseSender = field(default_factory=ResponseSender)

    def is_cancelled(self) -> bool:
        return self.cancelled

    def parameters(self) -> str:
        return json.dumps(self.request_parameters)

    def requested_output_names(self) -> list[str]:
        return list(self.outputs)

    def get_response_sender(self) -> ResponseSender:
        return self.sender


def get_input_tensor_by_name(request: Request, name: str) -> Tensor | None:
    return Tensor(name, request.inputs[name]) if name in request.inputs else None


def output(response: InferenceResponse, name: str) -> Any:
    """A response's output tensor as a numpy array."""
    return next(tensor.as_numpy() for tensor in response.output_tensors() if tensor.name() == name)


sys.modules.setdefault("triton_python_backend_utils", sys.modules[__name__])
