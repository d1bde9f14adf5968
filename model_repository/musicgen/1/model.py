"""Triton glue for MusicGen, decoupled: per request, PROGRESS responses (fraction and tokens) while it generates,
then the clips in the final response; errors in-band. Requests that arrive together, carry no SEED and no MELODY
and ask for the same parameters are generated as one audiocraft batch (their prompts side by side); the others run
one request at a time. A cancelled request stops the generation once every request in its batch is cancelled.
Missing weights do not stop the model from loading: each request answers with the parts to fetch, and loading is
retried until they are there."""

import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import triton_python_backend_utils as pb_utils

import generator
from deploy.settings import Settings
from deploy.triton import error_message, instance_device, model_parameters, unexpected_error_message

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def _error(field: str, reason: object, code: int, *, too_large: bool = False) -> Any:
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(error_message(field, reason, too_large=too_large), code)
    )


def _invalid(exc: generator.InvalidGeneration) -> Any:
    too_long = isinstance(exc, generator.GenerationTooLong)
    return _error(exc.field, exc.reason, pb_utils.TritonError.INVALID_ARG, too_large=too_long)


def _scalar(request: Any, name: str) -> Any:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)[0].item()


@dataclass
class _Job:
    """One parsed request: its prompts, parameters and optional melody, and where its responses go."""

    request: Any
    sender: Any
    prompts: list[str]
    params: generator.GenerationParams
    melody: npt.NDArray[np.float32] | None
    melody_sample_rate: int

    @property
    def melodies(self) -> list[npt.NDArray[np.float32] | None] | None:
        """The request's one melody, for each of its prompts."""
        return None if self.melody is None else [self.melody] * len(self.prompts)


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        parameter = model_parameters(args).get
        settings = Settings()
        self.device = instance_device(args)
        self.model_name = parameter("MUSICGEN_MODEL") or settings.musicgen_model
        self.weights_dir = Path(parameter("WEIGHTS_DIR") or settings.weights_dir)
        self.max_seconds = float(parameter("MAX_SECONDS") or settings.max_generate_seconds)
        generator.set_threads(int(parameter("THREADS") or settings.generate_threads))
        self.generator: generator.Generator | None = None
        try:
            self._loaded()
        except generator.MissingWeights as exc:
            pb_utils.Logger.log_warn(str(exc))

    def execute(self, requests: list[Any]) -> None:
        senders = [request.get_response_sender() for request in requests]
        try:
            model = self._loaded()
        except generator.MissingWeights as exc:
            for sender in senders:
                sender.send(_error("weights", exc, pb_utils.TritonError.UNAVAILABLE), flags=FINAL)
            return
        jobs = []
        for request, sender in zip(requests, senders, strict=True):
            try:
                job = self._parse(request, sender)
                # Each request is validated alone, so that one bad request does not fail the batch it joins.
                model.validate(job.prompts, job.params, job.melodies, job.melody_sample_rate)
            except generator.InvalidGeneration as exc:
                sender.send(_invalid(exc), flags=FINAL)
                continue
            jobs.append(job)
        for batch in self._batches(jobs, model.max_batch):
            self._generate(model, batch)

    def _loaded(self) -> generator.Generator:
        if self.generator is None:
            model = generator.load_model(self.model_name, self.weights_dir, self.device)
            self.generator = generator.Generator(model, max_seconds=self.max_seconds)
        return self.generator

    def _parse(self, request: Any, sender: Any) -> _Job:
        # Every input has the batch dimension of one request (1) first: index it away.
        prompts = [value.decode() for value in pb_utils.get_input_tensor_by_name(request, "PROMPT").as_numpy()[0]]
        defaults = generator.GenerationParams()
        values = {
            "duration": _scalar(request, "DURATION"),
            "temperature": _scalar(request, "TEMPERATURE"),
            "top_k": _scalar(request, "TOP_K"),
            "top_p": _scalar(request, "TOP_P"),
            "cfg_coef": _scalar(request, "CFG_COEF"),
            "seed": _scalar(request, "SEED"),
        }
        params = replace(defaults, **{key: value for key, value in values.items() if value is not None})
        melody_tensor = pb_utils.get_input_tensor_by_name(request, "MELODY")
        melody = None if melody_tensor is None else melody_tensor.as_numpy()[0]
        melody_sample_rate = _scalar(request, "MELODY_SAMPLE_RATE") or 32000
        return _Job(request, sender, prompts, params, melody, int(melody_sample_rate))

    @staticmethod
    def _batches(jobs: list[_Job], limit: int) -> Iterator[list[_Job]]:
        """Unseeded, melody-free jobs with equal parameters share a batch of at most `limit` prompts."""
        shared: dict[generator.GenerationParams, list[_Job]] = {}
        for job in jobs:
            if job.params.seed is not None or job.melody is not None:
                yield [job]
                continue
            batch = shared.setdefault(job.params, [])
            if batch and sum(len(member.prompts) for member in batch) + len(job.prompts) > limit:
                yield batch
                batch = shared[job.params] = []
            batch.append(job)
        yield from (batch for batch in shared.values() if batch)

    def _generate(self, model: generator.Generator, batch: list[_Job]) -> None:
        first = batch[0]
        prompts = [prompt for job in batch for prompt in job.prompts]

        def on_progress(done: int, total: int) -> None:
            response = pb_utils.InferenceResponse(
                output_tensors=[
                    pb_utils.Tensor("PROGRESS", np.array([[done / total]], np.float32)),
                    pb_utils.Tensor("TOKENS_DONE", np.array([[done]], np.int32)),
                    pb_utils.Tensor("TOKENS_TOTAL", np.array([[total]], np.int32)),
                ]
            )
            for job in batch:
                if not job.request.is_cancelled():
                    job.sender.send(response)

        try:
            clips = model.generate(
                prompts,
                first.params,
                melody=first.melodies,
                melody_sample_rate=first.melody_sample_rate,
                on_progress=on_progress,
                is_cancelled=lambda: all(job.request.is_cancelled() for job in batch),
            )
        except generator.InvalidGeneration as exc:
            self._fail(batch, _invalid(exc))
            return
        except generator.GenerationCancelled as exc:
            self._fail(batch, _error("request", exc, pb_utils.TritonError.CANCELLED))
            return
        except generator.DependencyMissing as exc:
            self._fail(batch, _error("melody", exc, pb_utils.TritonError.UNAVAILABLE))
            return
        except Exception as exc:  # a bug: this batch fails, the model keeps serving the next ones
            pb_utils.Logger.log_error(traceback.format_exc())
            message = unexpected_error_message("musicgen", exc)
            self._fail(
                batch, pb_utils.InferenceResponse(error=pb_utils.TritonError(message, pb_utils.TritonError.INTERNAL))
            )
            return
        start = 0
        for job in batch:
            end = start + len(job.prompts)
            if job.request.is_cancelled():
                job.sender.send(_error("request", "cancelled", pb_utils.TritonError.CANCELLED), flags=FINAL)
            else:
                job.sender.send(self._result(np.stack(clips[start:end]), model.sample_rate), flags=FINAL)
            start = end

    @staticmethod
    def _result(audio: npt.NDArray[np.float32], sample_rate: int) -> Any:
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("PROGRESS", np.array([[1.0]], np.float32)),
                pb_utils.Tensor("AUDIO", audio[np.newaxis]),
                pb_utils.Tensor("AUDIO_SAMPLE_RATE", np.array([[sample_rate]], np.int32)),
            ]
        )

    @staticmethod
    def _fail(batch: list[_Job], response: Any) -> None:
        for job in batch:
            job.sender.send(response, flags=FINAL)
