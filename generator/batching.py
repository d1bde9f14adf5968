"""Which MusicGen requests generate together: requests that arrive together, carry no seed, no melody and no audio to
continue and ask for the same model, adapter and parameters share one audiocraft batch (their prompts side by side,
at most the model's batch); the others run alone, since a seed, a melody or audio to continue belongs to one
request, and one adapter (or none) is active in a batch."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from generator.generate import GenerationParams

Handle = TypeVar("Handle")


@dataclass
class Job(Generic[Handle]):
    """One request: its prompts, parameters, optional melody or audio to continue, the model it names ("" for the
    default), the adapter it generates with ("" for none: the base model), and `handle`, where its answers go."""

    handle: Handle
    prompts: list[str]
    params: GenerationParams
    melody: npt.NDArray[np.float32] | None = None
    melody_sample_rate: int = 32000
    model: str = ""
    continued: npt.NDArray[np.float32] | None = None
    continued_sample_rate: int = 32000
    adapter: str = ""

    @property
    def melodies(self) -> list[npt.NDArray[np.float32] | None] | None:
        """The request's one melody, for each of its prompts."""
        return None if self.melody is None else [self.melody] * len(self.prompts)


def batches(jobs: list[Job[Handle]], max_prompts: int) -> Iterator[list[Job[Handle]]]:
    """The jobs in generation batches: unseeded jobs without a melody or audio to continue, with equal models,
    adapters and parameters, share a batch of at most `max_prompts` prompts, in arrival order; every other job is a
    batch of its own."""
    shared: dict[tuple[str, str, GenerationParams], list[Job[Handle]]] = {}
    for job in jobs:
        if job.params.seed is not None or job.melody is not None or job.continued is not None:
            yield [job]
            continue
        key = (job.model, job.adapter, job.params)
        batch = shared.setdefault(key, [])
        if batch and sum(len(member.prompts) for member in batch) + len(job.prompts) > max_prompts:
            yield batch
            batch = shared[key] = []
        batch.append(job)
    yield from (batch for batch in shared.values() if batch)


def split_clips(
    batch: list[Job[Handle]], clips: list[npt.NDArray[np.float32]]
) -> Iterator[tuple[Job[Handle], list[npt.NDArray[np.float32]]]]:
    """Each job of a generated batch with its own clips (one per prompt, in the batch's order)."""
    start = 0
    for job in batch:
        end = start + len(job.prompts)
        yield job, clips[start:end]
        start = end
