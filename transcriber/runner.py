"""The Basic Pitch network on onnxruntime: the ONNX file shipped in the basic-pitch wheel, run on batches of
windows. Windows are independent, so a batch gives exactly what one call per window gives."""

from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime  # type: ignore[import-untyped]

from transcriber._basic_pitch import ONNX_MODEL_PATH
from transcriber.errors import InvalidTranscriptionRequest
from transcriber.windows import WINDOW_SAMPLES, ModelOutputs, Windows, join_outputs

DEFAULT_THREADS = 2
DEFAULT_MAX_BATCH = 32
# Output name in the ONNX graph for each of basic_pitch.inference.Model.predict's names.
_ONNX_OUTPUTS = {
    "note": "StatefulPartitionedCall:1",
    "onset": "StatefulPartitionedCall:2",
    "contour": "StatefulPartitionedCall:0",
}
_ONNX_INPUT = "serving_default_input_2:0"
# onnxruntime's execution provider for each device NoteModel runs on.
_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class NoteModel:
    """One onnxruntime session; `predict` runs at most `max_batch` windows per call to bound memory."""

    def __init__(
        self,
        path: Path = ONNX_MODEL_PATH,
        *,
        threads: int = DEFAULT_THREADS,
        max_batch: int = DEFAULT_MAX_BATCH,
        device: Literal["cpu", "cuda"] = "cpu",
    ) -> None:
        if threads < 1 or max_batch < 1:
            raise ValueError(f"threads and max_batch must be at least 1, got {threads} and {max_batch}")
        provider = _PROVIDERS[device]
        if provider not in onnxruntime.get_available_providers():
            raise RuntimeError(
                f"onnxruntime {onnxruntime.__version__} has no {provider} here (it has "
                f"{', '.join(onnxruntime.get_available_providers())}): on a machine with an NVIDIA GPU and CUDA, "
                "install onnxruntime-gpu in place of onnxruntime"
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.path = path
        self.max_batch = max_batch
        self._session = onnxruntime.InferenceSession(str(path), options, providers=[provider])

    def predict(self, windows: Windows) -> ModelOutputs:
        """[N, WINDOW_SAMPLES, 1] float32 -> {"note": [N, 172, 88], "onset": [N, 172, 88], "contour": [N, 172, 264]}."""
        check_windows(windows)
        return join_outputs(
            self._run(windows[i : i + self.max_batch]) for i in range(0, windows.shape[0], self.max_batch)
        )

    def _run(self, windows: Windows) -> ModelOutputs:
        results = self._session.run(list(_ONNX_OUTPUTS.values()), {_ONNX_INPUT: windows})
        return dict(zip(_ONNX_OUTPUTS, results, strict=True))


def check_windows(windows: Windows) -> None:
    """Raise `InvalidTranscriptionRequest` (field "windows") unless `windows` is finite [N>0, WINDOW_SAMPLES, 1]."""
    if not isinstance(windows, np.ndarray) or windows.dtype != np.float32:
        raise InvalidTranscriptionRequest("windows", "windows must be a float32 array")
    if windows.ndim != 3 or windows.shape[0] == 0 or windows.shape[1:] != (WINDOW_SAMPLES, 1):
        reason = f"expected shape [N>0, {WINDOW_SAMPLES}, 1], got {list(windows.shape)}"
        raise InvalidTranscriptionRequest("windows", reason)
    if not np.isfinite(windows).all():
        raise InvalidTranscriptionRequest("windows", "the windows contain NaN or infinite samples")
