"""Triton glue for demucs separation, decoupled: per request, PROGRESS responses between chunks, then the stems in
the final response; errors in-band. A cancelled request stops at the next chunk. Missing weights do not stop the
model from loading: each request answers with the files to fetch, and loading is retried until they are there."""

import functools
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import separator
from deploy.backend import FINAL, answer, instance_device, model_parameters, required
from deploy.settings import Settings
from dgxmusic.models import Demucs


def _progress(fraction: float) -> Any:
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(Demucs.PROGRESS.name, np.array([fraction], np.float32))]
    )


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
            sender.send(answer(Demucs.NAME, functools.partial(self._separate, request, sender)), flags=FINAL)

    def _loaded(self) -> separator.Separator:
        if self.separator is None:
            model = separator.load_model(self.model_name, self.weights_dir)
            self.separator = separator.Separator(model, max_seconds=self.max_seconds, device=self.device)
        return self.separator

    def _separate(self, request: Any, sender: Any) -> Any:
        model = self._loaded()
        stems = model.separate(
            required(request, Demucs.AUDIO),
            int(required(request, Demucs.SAMPLE_RATE).reshape(-1)[0]),
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
