"""Triton glue for demucs separation, decoupled: per request, PROGRESS responses between chunks, then the stems in
the final response; errors in-band. A request names its model (MODEL; none: the default), loaded on its first call
within the instance's planned memory (MEMORY_GB) by `separator.Separators`. A cancelled request stops at the next
chunk. Missing weights do not stop the model from loading: each request answers with the files to fetch. A request
with LIST_MODELS = 1 is answered with every known model's state (MODELS, `dgxmusic.catalog`)."""

import functools
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import separator
from deploy.backend import FINAL, answer, instance_device, model_parameters, required, scalar, text
from deploy.loaded_models import GB
from deploy.settings import Settings
from dgxmusic import catalog
from dgxmusic.models import Demucs


def _progress(fraction: float) -> Any:
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(Demucs.PROGRESS.name, np.array([fraction], np.float32))]
    )


def _params(request: Any) -> separator.SeparationParams:
    """demucs' options as the request gives them; each left out is demucs' default."""
    defaults = separator.SeparationParams()
    shifts, overlap = scalar(request, Demucs.SHIFTS), scalar(request, Demucs.OVERLAP)
    return separator.SeparationParams(
        two_stems=text(request, Demucs.TWO_STEMS) or None,
        shifts=defaults.shifts if shifts is None else int(shifts),
        overlap=defaults.overlap if overlap is None else float(overlap),
        segment=scalar(request, Demucs.SEGMENT),
    )


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        parameter = model_parameters(args).get
        settings = Settings()
        separator.set_threads(int(parameter("THREADS") or settings.separate_threads))
        memory_gb = parameter("MEMORY_GB")
        self.separators = separator.Separators(
            parameter("DEMUCS_MODEL") or settings.demucs_model,
            Path(parameter("WEIGHTS_DIR") or settings.weights_dir),
            budget_bytes=float(memory_gb) * GB if memory_gb else float("inf"),
            max_seconds=settings.max_separate_seconds,
            device=instance_device(args),
        )
        try:
            self.separators.get()
        except separator.MissingWeights as exc:
            pb_utils.Logger.log_warn(str(exc))

    def execute(self, requests: list[Any]) -> None:
        for request in requests:
            sender = request.get_response_sender()
            sender.send(answer(Demucs.NAME, functools.partial(self._serve, request, sender)), flags=FINAL)

    def _serve(self, request: Any, sender: Any) -> Any:
        if scalar(request, Demucs.LIST_MODELS):
            models = np.array([catalog.encode(self.separators.catalog())], dtype=np.object_)
            return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(Demucs.MODELS.name, models)])
        model = self.separators.get(text(request, Demucs.MODEL) or "")
        stems = model.separate(
            required(request, Demucs.AUDIO),
            int(required(request, Demucs.SAMPLE_RATE).reshape(-1)[0]),
            _params(request),
            on_progress=lambda fraction: sender.send(_progress(fraction)),
            is_cancelled=request.is_cancelled,
        )
        names = np.array([name.encode() for name in stems], dtype=np.object_)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor(Demucs.PROGRESS.name, np.array([1.0], np.float32)),
                pb_utils.Tensor(Demucs.STEMS.name, np.stack(list(stems.values()))),
                pb_utils.Tensor(Demucs.STEM_NAMES.name, names),
                pb_utils.Tensor(Demucs.STEMS_SAMPLE_RATE.name, np.array([model.sample_rate], np.int32)),
            ]
        )
