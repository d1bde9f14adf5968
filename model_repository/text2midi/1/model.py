"""Triton glue for the composer: one response per request, errors in-band so one bad prompt never fails a batch."""

import json
import traceback
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import composer
from deploy.triton import error_message, unexpected_error_message


def _text(request: Any, name: str) -> str | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    value = tensor.as_numpy().reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _song_request(request: Any) -> composer.SongRequest:
    options: dict[str, Any] = json.loads(_text(request, "OPTIONS") or "{}")
    return composer.SongRequest(prompt=_text(request, "PROMPT") or "", **options)


class TritonPythonModel:
    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: Any) -> Any:
        try:
            return self._compose(request)
        except Exception as exc:  # a bug: this request fails, not the batch, and the model keeps serving
            pb_utils.Logger.log_error(traceback.format_exc())
            error = pb_utils.TritonError(unexpected_error_message("text2midi", exc), pb_utils.TritonError.INTERNAL)
            return pb_utils.InferenceResponse(error=error)

    def _compose(self, request: Any) -> Any:
        try:
            song = composer.compose(_song_request(request))
        except composer.InvalidSongRequest as exc:
            too_large = isinstance(exc, composer.SongRequestTooLarge)  # e.g. "900 bars" in the prompt
            message = error_message(exc.field, exc.reason, too_large=too_large)
            error = pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG)
            return pb_utils.InferenceResponse(error=error)
        except (TypeError, ValueError) as exc:  # malformed OPTIONS JSON from a caller other than the gateway
            error = pb_utils.TritonError(f"OPTIONS: {exc}", pb_utils.TritonError.INVALID_ARG)
            return pb_utils.InferenceResponse(error=error)
        midi = np.array([[song.midi]], dtype=np.object_)
        metadata = np.array([[json.dumps(song.metadata.to_dict()).encode()]], dtype=np.object_)
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor("MIDI", midi), pb_utils.Tensor("METADATA", metadata)]
        )
