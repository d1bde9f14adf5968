"""Which MusicGen requests generate together (generator.batches), and how a batch's clips go back to them."""

import numpy as np

from generator import GenerationParams, Job, batches, split_clips

PLAIN = GenerationParams(duration=4.0)


def job(name: str, prompts: int = 1, params: GenerationParams = PLAIN, melody: bool = False) -> Job[str]:
    tune = np.zeros((100, 1), np.float32) if melody else None
    return Job(name, [f"{name}{n}" for n in range(prompts)], params, tune)


def names(grouped: list[list[Job[str]]]) -> list[list[str]]:
    return [[member.handle for member in batch] for batch in grouped]


def test_unseeded_requests_with_equal_parameters_share_a_batch() -> None:
    longer = GenerationParams(duration=8.0)
    grouped = list(batches([job("a"), job("b", params=longer), job("c"), job("d", params=longer)], max_prompts=16))
    assert names(grouped) == [["a", "c"], ["b", "d"]]


def test_a_seed_or_a_melody_makes_a_batch_of_its_own() -> None:
    seeded = GenerationParams(duration=4.0, seed=7)
    grouped = list(batches([job("a"), job("s", params=seeded), job("m", melody=True), job("b")], max_prompts=16))
    assert names(grouped) == [["s"], ["m"], ["a", "b"]]


def test_requests_with_different_adapters_never_share_a_batch() -> None:
    jobs = [job("base"), job("boombap"), job("trance"), job("boombap2"), job("base2")]
    for member, adapter in zip(jobs, ["", "my-boombap", "my-trance", "my-boombap", ""], strict=True):
        member.adapter = adapter
    grouped = list(batches(jobs, max_prompts=16))
    assert names(grouped) == [["base", "base2"], ["boombap", "boombap2"], ["trance"]]


def test_a_batch_holds_at_most_max_prompts() -> None:
    grouped = list(batches([job("a", 3), job("b", 2), job("c", 2), job("d", 1)], max_prompts=4))
    assert names(grouped) == [["a"], ["b", "c"], ["d"]]
    assert all(sum(len(member.prompts) for member in batch) <= 4 for batch in grouped)


def test_each_job_gets_its_own_clips_back() -> None:
    batch = [job("a", 2), job("b", 1)]
    clips = [np.full((3, 1), n, np.float32) for n in range(3)]
    returned = {member.handle: [int(clip[0, 0]) for clip in own] for member, own in split_clips(batch, clips)}
    assert returned == {"a": [0, 1], "b": [2]}


def test_a_melody_is_given_for_each_prompt() -> None:
    assert job("a", 3).melodies is None
    melodies = job("m", 3, melody=True).melodies
    assert melodies is not None
    assert len(melodies) == 3
