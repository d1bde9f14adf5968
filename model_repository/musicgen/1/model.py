"""Triton glue for MusicGen, decoupled: per request, PROGRESS responses (fraction and tokens) while it generates,
then the clips in the final response; errors in-band. Which requests generate together is generator.batches'
policy. A cancelled request stops the generation once every request in its batch is cancelled. Missing weights do
not stop the model from loading: each request answers with the parts to fetch, and loading is retried until they
are there."""

from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import triton_python_backend_utils as pb_utils

import generator
from deploy.backend import FINAL, array, error_response, instance_device, model_parameters, required, scalar
from deploy.settings import Settings
from dgxmusic.errors import Cancelled
from dgxmusic.models import Musicgen


class _Request(NamedTuple):
    """Where a job's answers go."""

    request: Any
    sender: Any


Job = generator.Job[_Request]


def _tensor(spec: Any, values: npt.ArrayLike, dtype: Any) -> Any:
    return pb_utils.Tensor(spec.name, np.array(values, dtype))


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
        handles = [_Request(request, request.get_response_sender()) for request in requests]
        try:
            model = self._loaded()
        except Exception as exc:  # missing weights, or a bug: every request hears of it
            self._fail(handles, error_response(Musicgen.NAME, exc))
            return
        jobs = []
        for handle in handles:
            try:
                job = _job(handle)
                # Each request is validated alone, so that one bad request does not fail the batch it joins.
                model.validate(job.prompts, job.params, job.melodies, job.melody_sample_rate)
            except Exception as exc:
                handle.sender.send(error_response(Musicgen.NAME, exc), flags=FINAL)
                continue
            jobs.append(job)
        for batch in generator.batches(jobs, model.max_batch):
            self._generate(model, batch)

    def _loaded(self) -> generator.Generator:
        if self.generator is None:
            model = generator.load_model(self.model_name, self.weights_dir, self.device)
            self.generator = generator.Generator(model, max_seconds=self.max_seconds)
        return self.generator

    def _generate(self, model: generator.Generator, batch: list[Job]) -> None:
        first = batch[0]

        def on_progress(done: int, total: int) -> None:
            response = pb_utils.InferenceResponse(
                output_tensors=[
                    _tensor(Musicgen.PROGRESS, [[done / total]], np.float32),
                    _tensor(Musicgen.TOKENS_DONE, [[done]], np.int32),
                    _tensor(Musicgen.TOKENS_TOTAL, [[total]], np.int32),
                ]
            )
            for job in batch:
                if not job.handle.request.is_cancelled():
                    job.handle.sender.send(response)

        try:
            clips = model.generate(
                [prompt for job in batch for prompt in job.prompts],
                first.params,
                melody=first.melodies,
                melody_sample_rate=first.melody_sample_rate,
                on_progress=on_progress,
                is_cancelled=lambda: all(job.handle.request.is_cancelled() for job in batch),
            )
        except Exception as exc:  # a bad request, a cancelled batch, or a bug: this batch fails, the model serves on
            self._fail([job.handle for job in batch], error_response(Musicgen.NAME, exc))
            return
        for job, own in generator.split_clips(batch, clips):
            if job.handle.request.is_cancelled():
                response = error_response(Musicgen.NAME, Cancelled("cancelled"))
            else:
                response = pb_utils.InferenceResponse(
                    output_tensors=[
                        _tensor(Musicgen.PROGRESS, [[1.0]], np.float32),
                        pb_utils.Tensor(Musicgen.AUDIO.name, np.stack(own)[np.newaxis]),
                        _tensor(Musicgen.AUDIO_SAMPLE_RATE, [[model.sample_rate]], np.int32),
                    ]
                )
            job.handle.sender.send(response, flags=FINAL)

    @staticmethod
    def _fail(handles: list[_Request], response: Any) -> None:
        for handle in handles:
            handle.sender.send(response, flags=FINAL)


def _job(handle: _Request) -> Job:
    """A request's prompts, parameters and melody; every input has the batch dimension of one request (1) first."""
    request = handle.request
    prompts = [value.decode() for value in required(request, Musicgen.PROMPT)[0]]
    given = {"duration": scalar(request, Musicgen.DURATION)}
    given |= {field: scalar(request, tensor) for field, tensor in Musicgen.SAMPLING.items()}
    params = replace(generator.GenerationParams(), **{key: value for key, value in given.items() if value is not None})
    melody = array(request, Musicgen.MELODY)
    melody_sample_rate = scalar(request, Musicgen.MELODY_SAMPLE_RATE) or Musicgen.SAMPLE_RATE
    return Job(handle, prompts, params, None if melody is None else melody[0], int(melody_sample_rate))
