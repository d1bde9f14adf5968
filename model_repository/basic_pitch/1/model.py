"""Triton glue for Basic Pitch: the windows of every request in a dynamic batch go through onnxruntime as one
batch and are split back per request; a request with bad windows gets its error in-band and never fails the
batch."""

from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import transcriber
from deploy.backend import error_response, model_parameters, required
from dgxmusic.models import BasicPitch


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        threads = int(model_parameters(args).get("THREADS") or transcriber.DEFAULT_THREADS)
        self.model = transcriber.NoteModel(threads=threads)

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        valid: list[tuple[int, transcriber.Windows]] = []
        for index, request in enumerate(requests):
            windows = required(request, BasicPitch.WINDOWS)
            try:
                transcriber.check_windows(windows)
            except transcriber.InvalidTranscriptionRequest as exc:
                responses[index] = error_response(BasicPitch.NAME, exc)
            else:
                valid.append((index, windows))
        if not valid:
            return responses
        try:
            outputs = self.model.predict(np.concatenate([windows for _, windows in valid]))
        except Exception as exc:  # a bug: these requests fail, and the model keeps serving the next ones
            failed = error_response(BasicPitch.NAME, exc)
            return [failed if response is None else response for response in responses]
        start = 0
        for index, windows in valid:
            end = start + windows.shape[0]
            tensors = [
                pb_utils.Tensor(tensor.name, outputs[key][start:end]) for key, tensor in BasicPitch.OUTPUTS.items()
            ]
            responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)
            start = end
        return responses
