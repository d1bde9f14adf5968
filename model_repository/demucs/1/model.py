"""Triton glue for demucs separation, decoupled: per request, PROGRESS responses between chunks, then the stems in
the final response; errors in-band. A cancelled request stops at the next chunk. Missing weights do not stop the
model from loading: each request answers with the files to fetch, and loading is retried until they are there."""

import traceback
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import separator
from deploy.settings import Settings
from deploy.triton import error_message, instance_device, model_parameters, unexpected_error_message

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def _error(field: str, reason: object, code: int, *, too_large: bool = False) -> Any:
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(error_message(field, reason, too_large=too_large), code)
    )


def _progress(fraction: float) -> Any:
    return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("PROGRESS", np.array([fraction], np.float32))])


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        parameter = model_parameters(args).get
        settings = Settings()
        self.device = instance_device(args)
        self.model_name = parameter("DEMUCS_MODEL") or settings.demucs_model
        self.weights_dir = Path(parameter("WEIGHTS_DIR") or settings.weights_dir)
        self.max_seconds = settings.max_separate_seconds
        separator.set_threads(int(parameter("THREADS") or settings.separate_threads))
        self.separator: separator.Separator | None = None
        try:
            self._loaded()
        except separator.MissingWeights as exc:
            pb_utils.Logger.log_warn(str(exc))

    def execute(self, requests: list[Any]) -> None:
        for request in requests:
            sender = request.get_response_sender()
            try:
                response = self._separate(request, sender)
            except Exception as exc:  # a bug: this request fails, the model keeps serving the next ones
                pb_utils.Logger.log_error(traceback.format_exc())
                error = pb_utils.TritonError(unexpected_error_message("demucs", exc), pb_utils.TritonError.INTERNAL)
                response = pb_utils.InferenceResponse(error=error)
            sender.send(response, flags=FINAL)

    def _loaded(self) -> separator.Separator:
        if self.separator is None:
            model = separator.load_model(self.model_name, self.weights_dir)
            self.separator = separator.Separator(model, max_seconds=self.max_seconds, device=self.device)
        return self.separator

    def _separate(self, request: Any, sender: Any) -> Any:
        audio = pb_utils.get_input_tensor_by_name(request, "AUDIO").as_numpy()
        sample_rate = int(pb_utils.get_input_tensor_by_name(request, "SAMPLE_RATE").as_numpy().reshape(-1)[0])
        try:
            model = self._loaded()
            stems = model.separate(
                audio,
                sample_rate,
                on_progress=lambda fraction: sender.send(_progress(fraction)),
                is_cancelled=request.is_cancelled,
            )
        except separator.MissingWeights as exc:
            return _error("weights", exc, pb_utils.TritonError.UNAVAILABLE)
        except separator.InvalidAudio as exc:
            too_long = isinstance(exc, separator.AudioTooLong)
            return _error(exc.field, exc.reason, pb_utils.TritonError.INVALID_ARG, too_large=too_long)
        except separator.SeparationCancelled as exc:
            return _error("request", exc, pb_utils.TritonError.CANCELLED)
        names = np.array([name.encode() for name in stems], dtype=np.object_)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("PROGRESS", np.array([1.0], np.float32)),
                pb_utils.Tensor("STEMS", np.stack(list(stems.values()))),
                pb_utils.Tensor("STEM_NAMES", names),
                pb_utils.Tensor("STEMS_SAMPLE_RATE", np.array([model.sample_rate], np.int32)),
            ]
        )
