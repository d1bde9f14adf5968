"""Triton glue for MusicGen, decoupled: per request, PROGRESS responses (fraction and tokens) while it generates,
then the clips in the final response; errors in-band. A request names its model (MODEL; none: the default), loaded
on its first call within the instance's planned memory (MEMORY_GB) by `generator.Generators`, and may give audio to
continue (CONTINUED_AUDIO). Which requests generate together is generator.batches' policy. A cancelled request stops
the generation once every request in its batch is cancelled. Missing weights do not stop the model from loading:
each request answers with the parts to fetch. A request with LIST_MODELS = 1 is answered with every model's state
(MODELS, `dgxmusic.catalog`) and the adapters it can apply (ADAPTERS). A request naming an ADAPTER generates with
that fine-tuned adapter (`AppliedAdapters` over the loaded model: loaded on demand, a few kept, the base
model never reloaded); batches never mix adapters, and an unknown adapter fails only the requests that name it."""

from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import triton_python_backend_utils as pb_utils

import generator
from deploy.backend import FINAL, array, error_response, instance_device, model_parameters, required, scalar, text
from deploy.loaded_models import GB
from deploy.settings import Settings
from dgxmusic import catalog
from dgxmusic.errors import Cancelled
from dgxmusic.models import Musicgen
from generator.adapters import AdapterStore, AppliedAdapters
from generator.serving import adapter_entries, check_owned


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
        generator.set_threads(int(parameter("THREADS") or settings.generate_threads))
        memory_gb = parameter("MEMORY_GB")
        self.generators = generator.Generators(
            parameter("MUSICGEN_MODEL") or settings.musicgen_model,
            Path(parameter("WEIGHTS_DIR") or settings.weights_dir),
            budget_bytes=float(memory_gb) * GB if memory_gb else float("inf"),
            max_seconds=float(parameter("MAX_SECONDS") or settings.max_generate_seconds),
            device=instance_device(args),
        )
        self.adapter_store = AdapterStore(Path(parameter("ADAPTER_DIR") or settings.adapter_dir))
        self._applied: dict[str, tuple[generator.Generator, AppliedAdapters]] = {}
        try:
            self.generators.get()
        except generator.MissingWeights as exc:
            pb_utils.Logger.log_warn(str(exc))

    def _adapters(self, model: generator.Generator) -> AppliedAdapters:
        """The adapters applied to `model`; made anew when its model was unloaded and loaded again."""
        held = self._applied.get(model.name)
        if held is None or held[0] is not model:
            held = self._applied[model.name] = (model, AppliedAdapters(model.model, self.adapter_store))
        return held[1]

    def execute(self, requests: list[Any]) -> None:
        jobs = []
        for request in requests:
            handle = _Request(request, request.get_response_sender())
            try:
                if scalar(request, Musicgen.LIST_MODELS):
                    models = np.array([[catalog.encode(self.generators.catalog())]], dtype=np.object_)
                    adapters = adapter_entries(self.adapter_store)
                    response = pb_utils.InferenceResponse(
                        output_tensors=[
                            pb_utils.Tensor(Musicgen.MODELS.name, models),
                            pb_utils.Tensor(
                                Musicgen.ADAPTERS.name,
                                np.array([[catalog.encode_adapters(adapters)]], dtype=np.object_),
                            ),
                        ]
                    )
                    handle.sender.send(response, flags=FINAL)
                    continue
                job = _job(handle)
                job.model = self.generators.name_of(job.model)
                if job.adapter:
                    check_owned(self.adapter_store, job.adapter, text(request, Musicgen.ADAPTER_OWNER) or "")
                # Each request is validated alone (loading its model), so that one bad request does not fail the
                # batch it joins.
                self.generators.get(job.model).validate(
                    job.prompts,
                    job.params,
                    job.melodies,
                    job.melody_sample_rate,
                    job.continued,
                    job.continued_sample_rate,
                )
            except Exception as exc:  # a bad request, missing weights, or a bug: this request hears of it
                handle.sender.send(error_response(Musicgen.NAME, exc), flags=FINAL)
                continue
            jobs.append(job)
        for batch in generator.batches(jobs, self.generators.max_batch):
            try:
                model = self.generators.get(batch[0].model)
            except Exception as exc:
                self._fail([job.handle for job in batch], error_response(Musicgen.NAME, exc))
                continue
            self._generate(model, batch)

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
            # One adapter per batch (generator.batches): a bad one fails only the requests that named it.
            with self._adapters(model).using(first.adapter):
                clips = self._generate_batch(model, batch, on_progress)
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
    def _generate_batch(model: generator.Generator, batch: list[Job], on_progress: Any) -> list[generator.Audio]:
        first = batch[0]
        return model.generate(
            [prompt for job in batch for prompt in job.prompts],
            first.params,
            melody=first.melodies,
            melody_sample_rate=first.melody_sample_rate,
            continued=first.continued,
            continued_sample_rate=first.continued_sample_rate,
            on_progress=on_progress,
            is_cancelled=lambda: all(job.handle.request.is_cancelled() for job in batch),
        )

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
    continued = array(request, Musicgen.CONTINUED_AUDIO)
    return Job(
        handle,
        prompts,
        params,
        None if melody is None else melody[0],
        int(melody_sample_rate),
        model=text(request, Musicgen.MODEL) or "",
        continued=None if continued is None else continued[0],
        continued_sample_rate=int(scalar(request, Musicgen.CONTINUED_SAMPLE_RATE) or Musicgen.SAMPLE_RATE),
        adapter=text(request, Musicgen.ADAPTER) or "",
    )
