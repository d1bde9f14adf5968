"""Triton glue for Basic Pitch: the windows of every request in a dynamic batch go through onnxruntime as one
batch and are split back per request; a request with bad windows gets its error in-band and never fails the
batch."""

import traceback
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import transcriber
from deploy.triton import error_message, model_parameters, unexpected_error_message

# Triton output name -> transcriber's output name.
_OUTPUTS = {"NOTE": "note", "ONSET": "onset", "CONTOUR": "contour"}


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        threads = int(model_parameters(args).get("THREADS") or transcriber.DEFAULT_THREADS)
        self.model = transcriber.NoteModel(threads=threads)

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        valid: list[tuple[int, transcriber.Windows]] = []
        for index, request in enumerate(requests):
            windows = pb_utils.get_input_tensor_by_name(request, "WINDOWS").as_numpy()
            try:
                transcriber.check_windows(windows)
            except transcriber.InvalidTranscriptionRequest as exc:
                error = pb_utils.TritonError(error_message(exc.field, exc.reason), pb_utils.TritonError.INVALID_ARG)
                responses[index] = pb_utils.InferenceResponse(error=error)
            else:
                valid.append((index, windows))
        if valid:
            try:
                outputs = self.model.predict(np.concatenate([windows for _, windows in valid]))
            except Exception as exc:  # a bug: these requests fail, and the model keeps serving the next ones
                pb_utils.Logger.log_error(traceback.format_exc())
                error = pb_utils.TritonError(
                    unexpected_error_message("basic_pitch", exc), pb_utils.TritonError.INTERNAL
                )
                for index, _ in valid:
                    responses[index] = pb_utils.InferenceResponse(error=error)
                return responses
            start = 0
            for index, windows in valid:
                end = start + windows.shape[0]
                tensors = [pb_utils.Tensor(name, outputs[key][start:end]) for name, key in _OUTPUTS.items()]
                responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)
                start = end
        return responses
