"""Triton glue for fine-tuning MusicGen, decoupled: per request, STEP / STEPS / LOSS responses while
`generator.training` trains a LoRA adapter on the request's clips, then the saved adapter (ADAPTER) in the final
response; errors in-band. The base model is loaded on the first request that names it (within MEMORY_GB); with
drop_vocals the clips' vocals are removed first by the stack's Demucs (`separator`, the weights the demucs model
serves). A request's checkpoints live in the adapter directory under its adapter's name, so that the same request
sent again (its job run again after a crash) resumes from the last one; a cancelled request stops at its next step
(its checkpoint kept: a gateway that died cancels its requests too, and its job resumes), and a failed or cancelled
one leaves no adapter."""

import functools
import json
import shutil
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr
import triton_python_backend_utils as pb_utils

import generator
from deploy.backend import FINAL, answer, instance_device, model_parameters, required
from deploy.loaded_models import GB
from deploy.settings import Settings
from dgxmusic import catalog
from dgxmusic.errors import FieldError
from dgxmusic.models import Musicgen, MusicgenTrain
from generator import training
from generator.adapters import AdapterStore, check_name
from generator.serving import adapter_entry


def _tensor(spec: Any, value: Any, dtype: Any) -> Any:
    return pb_utils.Tensor(spec.name, np.array([value], dtype))


def _config(recipe: dict[str, Any]) -> training.TrainingConfig:
    """The request's training settings over the defaults; names TrainingConfig does not have are refused. Chunks
    shorter than the default shortest clip let shorter clips in too."""
    known = {field.name for field in fields(training.TrainingConfig)}
    settings = dict(recipe.get("config", {}))
    if unknown := sorted(set(settings) - known):
        raise FieldError("recipe", f"unknown training settings: {', '.join(unknown)}")
    if "genre_words" in settings:
        settings["genre_words"] = tuple(settings["genre_words"])
    config = training.TrainingConfig(**settings)
    return replace(config, min_seconds=min(config.min_seconds, config.chunk_seconds))


def _data_error(exc: generator.TrainingDataError) -> FieldError:
    """The error as the in-band encoding carries it: its field is "data" (a file's name is no field name), and the
    reason names the file."""
    file = exc.field.removeprefix("data/") if exc.field != "data" else ""
    return FieldError("data", f"file {file!r} {exc.reason}" if file else exc.reason)


def _clips(request: Any) -> list[training.TrainingClip]:
    audio: npt.NDArray[np.float32] = required(request, MusicgenTrain.AUDIO)
    ends = np.cumsum(required(request, MusicgenTrain.CLIP_FRAMES).reshape(-1))
    names = [name.decode() for name in required(request, MusicgenTrain.CLIP_NAMES).reshape(-1)]
    captions = [caption.decode() for caption in required(request, MusicgenTrain.CAPTIONS).reshape(-1)]
    if not (len(ends) == len(names) == len(captions)) or (len(ends) and ends[-1] != len(audio)):
        raise FieldError("clip_frames", "the clips' frames, names and captions do not match the audio")
    starts = [0, *ends[:-1]]
    return [
        training.TrainingClip(name, audio[start:end], Musicgen.SAMPLE_RATE, caption or None)
        for name, start, end, caption in zip(names, starts, ends, captions, strict=True)
    ]


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        parameter = model_parameters(args).get
        settings = Settings()
        generator.set_threads(int(parameter("THREADS") or settings.generate_threads))
        memory_gb = parameter("MEMORY_GB")
        self.device = instance_device(args)
        self.weights_dir = Path(parameter("WEIGHTS_DIR") or settings.weights_dir)
        self.adapter_dir = Path(parameter("ADAPTER_DIR") or settings.adapter_dir)
        self.demucs_model = settings.demucs_model
        # Generators give the base model by name, with the musicgen model's checks (unknown names, missing weights).
        self.generators = generator.Generators(
            parameter("MUSICGEN_MODEL") or settings.musicgen_model,
            self.weights_dir,
            budget_bytes=float(memory_gb) * GB if memory_gb else float("inf"),
            device=self.device,
        )

    def execute(self, requests: list[Any]) -> None:
        for request in requests:
            sender = request.get_response_sender()
            sender.send(answer(MusicgenTrain.NAME, functools.partial(self._train, request, sender)), flags=FINAL)

    def _train(self, request: Any, sender: Any) -> Any:
        recipe = json.loads(required(request, MusicgenTrain.RECIPE).reshape(-1)[0])
        name = str(recipe.get("name", ""))
        check_name(name, "name")
        store = AdapterStore(self.adapter_dir)
        if name in store.names():
            raise FieldError("name", f"an adapter named {name!r} exists already: choose another name")
        base = self.generators.name_of(str(recipe.get("model", "")))
        config = _config(recipe)
        served = self.generators.get(base)
        if served.supports_melody:  # training feeds no chroma, which a melody model's every step conditions on
            raise FieldError("model", f"{base} follows a melody: fine-tune musicgen-small, -medium or -large instead")
        model = served.model
        # Where a run sent again (its job taken up after a crash) finds the tokens and the last checkpoint.
        work_dir = self.adapter_dir / ".training" / name

        def on_progress(progress: training.TrainingProgress) -> None:
            if not request.is_cancelled():
                sender.send(
                    pb_utils.InferenceResponse(
                        output_tensors=[
                            _tensor(MusicgenTrain.STEP, progress.step, np.int32),
                            _tensor(MusicgenTrain.STEPS, progress.steps, np.int32),
                            _tensor(MusicgenTrain.LOSS, progress.loss, np.float32),
                        ]
                    )
                )

        try:
            clips = _clips(request)
            separate = self._vocals_remover(config)
            data = training.prepare(model, clips, config, separate, cache_dir=work_dir, cancelled=request.is_cancelled)
            result = training.train(model, data, config, work_dir, on_progress, request.is_cancelled)
        except generator.TrainingDataError as exc:
            raise _data_error(exc) from exc
        chunks = {"training_chunks": len(data.train), "validation_chunks": len(data.validation)}
        # The caller's owner tag: the musicgen model serves the adapter to that owner only.
        owner = str(recipe.get("owner", ""))
        saved = training.save_adapter(result, self.adapter_dir, name, {"name": name, "owner": owner, **chunks})
        shutil.rmtree(work_dir, ignore_errors=True)
        entry = adapter_entry(store.get(saved.name))
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor(
                    MusicgenTrain.ADAPTER.name, np.array([catalog.encode_adapters([entry])], dtype=np.object_)
                )
            ]
        )

    def _vocals_remover(self, config: training.TrainingConfig) -> Any:
        """With drop_vocals: the audio without its vocals, by the stack's Demucs model."""
        if not config.drop_vocals:
            return None
        import separator  # only when asked: Demucs' weights and memory are not every training's

        demucs = separator.Separators(
            self.demucs_model, self.weights_dir, budget_bytes=float("inf"), device=self.device
        )

        def remove_vocals(samples: npt.NDArray[np.float32], sample_rate: int) -> npt.NDArray[np.float32]:
            model = demucs.get()
            stems = model.separate(samples, sample_rate, separator.SeparationParams(two_stems="vocals"))
            # Demucs answers at its own rate: back to the clip's.
            kept = soxr.resample(stems["no_vocals"], model.sample_rate, sample_rate)
            return np.asarray(kept[: len(samples)], dtype=np.float32)

        return remove_vocals
