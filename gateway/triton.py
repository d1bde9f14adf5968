"""The gateway's view of Triton: one typed method per model call, each with a deadline, errors mapped to ApiError.
Cancelling the awaiting task cancels the gRPC call to Triton."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
import structlog
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import InferInput, InferRequestedOutput, InferResult
from tritonclient.utils import InferenceServerException

import composer
from clients.audio import FloatAudio
from gateway.errors import ApiError, triton_errors

log = structlog.get_logger(__name__)

TEXT2MIDI = "text2midi"
FLUIDSYNTH = "fluidsynth"
BASIC_PITCH = "basic_pitch"
DEMUCS = "demucs"
# The basic_pitch model's max_batch_size: longer audio goes as several concurrent requests.
MAX_WINDOWS_PER_REQUEST = 64
_NOTE_OUTPUTS = {"note": "NOTE", "onset": "ONSET", "contour": "CONTOUR"}


@dataclass(frozen=True)
class Rendered:
    mix: FloatAudio
    stems: dict[str, FloatAudio]


@dataclass(frozen=True)
class Separated:
    sample_rate: int
    stems: dict[str, FloatAudio]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    version: str
    state: str  # Triton's: READY, UNAVAILABLE, LOADING...
    reason: str


def _bytes_input(name: str, value: bytes) -> InferInput:
    tensor = InferInput(name, [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[value]], dtype=np.object_))
    return tensor


def song_options(song: composer.SongRequest) -> dict[str, Any]:
    """The overrides of a SongRequest as the text2midi model's OPTIONS JSON (unset values left out)."""
    fields = {
        "bpm": song.bpm,
        "key": song.key,
        "bars": song.bars,
        "seconds": song.seconds,
        "seed": song.seed,
        "time_signature": song.time_signature,
    }
    return {name: value for name, value in fields.items() if value is not None}


class TritonModels:
    def __init__(self, url: str) -> None:
        self.client = triton_aio.InferenceServerClient(url)

    async def close(self) -> None:
        await self.client.close()

    async def _infer(self, model: str, inputs: list[InferInput], **kwargs: Any) -> InferResult:
        """One inference; a model whose python stub died is reloaded and the request retried once.

        Triton never restarts a dead stub and keeps calling the model READY (FINDINGS.md), but in explicit model
        control mode load_model() brings it back in a fraction of a second."""
        with triton_errors(model):
            try:
                return await self.client.infer(model, inputs, **kwargs)
            except InferenceServerException as exc:
                if "is not healthy" not in str(exc.message()):
                    raise
                log.warning("reloading_model", model=model, reason=exc.message())
                await self._reload(model, kwargs.get("client_timeout"))
            return await self.client.infer(model, inputs, **kwargs)

    async def _reload(self, model: str, deadline: float | None) -> None:
        # load_model() of a model Triton believes loaded is a no-op: unload it first.
        await self.client.unload_model(model, client_timeout=deadline)
        await self.client.load_model(model, client_timeout=deadline)

    async def ready(self, models: list[str], deadline: float = 1.0) -> bool:
        for model in models:
            with triton_errors(model):
                if not await self.client.is_model_ready(model, client_timeout=deadline):
                    return False
        return True

    async def compose(
        self, song: composer.SongRequest, *, deadline: float, request_id: str
    ) -> tuple[bytes, dict[str, Any]]:
        inputs = [
            _bytes_input("PROMPT", song.prompt.encode()),
            _bytes_input("OPTIONS", json.dumps(song_options(song)).encode()),
        ]
        result = await self._infer(TEXT2MIDI, inputs, request_id=request_id, client_timeout=deadline)
        midi = result.as_numpy("MIDI").reshape(-1)[0]
        metadata = json.loads(result.as_numpy("METADATA").reshape(-1)[0])
        return bytes(midi), metadata

    async def render(
        self, midi: bytes, *, soundfont: str, sample_rate: int, stems: bool, deadline: float, request_id: str
    ) -> Rendered:
        rate = InferInput("SAMPLE_RATE", [1, 1], "INT32")
        rate.set_data_from_numpy(np.array([[sample_rate]], dtype=np.int32))
        inputs = [_bytes_input("MIDI", midi), _bytes_input("SOUNDFONT", soundfont.encode()), rate]
        wanted = ["MIX", "STEMS", "STEM_NAMES"] if stems else ["MIX"]
        result = await self._infer(
            FLUIDSYNTH,
            inputs,
            outputs=[InferRequestedOutput(name) for name in wanted],
            request_id=request_id,
            client_timeout=deadline,
        )
        mix = result.as_numpy("MIX")[0]
        stem_audio: dict[str, FloatAudio] = {}
        if stems:
            names = [name.decode() for name in result.as_numpy("STEM_NAMES").reshape(-1)]
            stem_audio = dict(zip(names, result.as_numpy("STEMS")[0], strict=True))
        return Rendered(mix, stem_audio)

    async def note_activations(
        self, windows: npt.NDArray[np.float32], *, deadline: float, request_id: str
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Basic Pitch's raw outputs for at most MAX_WINDOWS_PER_REQUEST windows [n, 43844, 1]."""
        tensor = InferInput("WINDOWS", list(windows.shape), "FP32")
        tensor.set_data_from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        result = await self._infer(
            BASIC_PITCH,
            [tensor],
            outputs=[InferRequestedOutput(name) for name in _NOTE_OUTPUTS.values()],
            request_id=request_id,
            client_timeout=deadline,
        )
        return {key: result.as_numpy(name) for key, name in _NOTE_OUTPUTS.items()}

    async def separate(
        self, audio: FloatAudio, sample_rate: int, *, deadline: float, request_id: str
    ) -> AsyncIterator[float | Separated]:
        """Streams the demucs model's progress (fractions), then its stems. Cancelling the iteration cancels the
        stream, and the model stops at its next chunk."""
        samples = InferInput("AUDIO", list(audio.shape), "FP32")
        samples.set_data_from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        rate = InferInput("SAMPLE_RATE", [1], "INT32")
        rate.set_data_from_numpy(np.array([sample_rate], dtype=np.int32))

        async def one_request() -> AsyncIterator[dict[str, Any]]:
            yield {"model_name": DEMUCS, "inputs": [samples, rate], "request_id": request_id}

        with triton_errors(DEMUCS):
            async for result, error in self.client.stream_infer(one_request(), stream_timeout=deadline):
                if error is not None:
                    raise error
                names = result.as_numpy("STEM_NAMES")
                if names is None:
                    yield float(result.as_numpy("PROGRESS")[0])
                    continue
                stems = result.as_numpy("STEMS")
                yield Separated(
                    int(result.as_numpy("STEMS_SAMPLE_RATE")[0]),
                    {name.decode(): stem for name, stem in zip(names.reshape(-1), stems, strict=True)},
                )
                return

    async def weights_problem(self, model: str) -> str | None:
        """What a weights-loading model says about its weights: it answers an empty request with "weights: ..."
        when they are missing, and with an input error otherwise."""
        try:
            async for _ in self.separate(np.zeros((0, 2), np.float32), 44100, deadline=10.0, request_id="probe"):
                pass
        except ApiError as exc:
            if exc.code == grpc.StatusCode.FAILED_PRECONDITION:
                return exc.message
        return None

    async def repository(self) -> list[ModelEntry]:
        """Every model in Triton's repository with its state (loaded or not)."""
        with triton_errors("repository"):
            index = await self.client.get_model_repository_index(as_json=True)
        return [
            ModelEntry(m["name"], m.get("version", ""), m.get("state", "UNAVAILABLE"), m.get("reason", ""))
            for m in index.get("models", [])
        ]
