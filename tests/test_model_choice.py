"""Choosing the model per call, without Triton: the least-recently-used models within a memory budget, every demucs
model served by name (two tiny random HTDemucs in demucs' own file format) with demucs' options, every MusicGen model
served by name (audiocraft's debug models), and MusicGen continuing a given take."""

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

import generator
import separator
from clients.ardour.cli import check_musicgen
from deploy.loaded_models import LoadedModels, OverMemoryBudget
from deploy.planner import load_profile, plan
from dgxmusic import catalog
from dgxmusic.errors import MissingWeights
from dgxmusic.v1 import music_service_pb2 as pb


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # An empty Hugging Face cache: a model's weights are in the weights directory or nowhere.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))


# -- the budget ----------------------------------------------------------------------------------------------------


class Loads:
    """A loader of fake models whose sizes are given by name; it records what it loaded and dropped."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.events: list[str] = []

    def load(self, name: str) -> str:
        if name not in self.sizes:
            raise MissingWeights(f"no weights for {name}")
        self.events.append(f"load {name}")
        return f"model {name}"

    def size(self, model: str) -> int:
        return self.sizes[model.removeprefix("model ")]

    def drop(self, name: str, model: str) -> None:
        self.events.append(f"drop {name}")


def models(budget: int, sizes: dict[str, int]) -> tuple[LoadedModels[str], Loads]:
    loads = Loads(sizes)
    return LoadedModels(budget, loads.load, loads.size, on_drop=loads.drop), loads


def test_a_model_is_loaded_on_its_first_call_and_kept_for_the_next() -> None:
    loaded, loads = models(10, {"a": 4})

    assert loaded.get("a") == loaded.get("a") == "model a"
    assert loads.events == ["load a"]
    assert loaded.loaded() == ["a"]
    assert loaded.used_bytes == 4


def test_the_least_recently_used_model_is_dropped_to_make_room() -> None:
    loaded, loads = models(10, {"a": 4, "b": 4, "c": 4})
    loaded.get("a")
    loaded.get("b")
    loaded.get("a")  # b is now the least recently used

    loaded.get("c")

    assert loaded.loaded() == ["a", "c"]
    assert loads.events == ["load a", "load b", "load c", "drop b"]
    assert loaded.used_bytes <= 10


def test_room_is_made_before_a_model_of_known_size_is_loaded_again() -> None:
    loaded, loads = models(10, {"a": 6, "b": 6})
    loaded.get("a")
    loaded.get("b")  # a is dropped after b is loaded: its size was not known before
    loaded.get("a")  # known now: b is dropped first, so the two are never held together again

    assert loads.events == ["load a", "load b", "drop a", "drop b", "load a"]


def test_a_model_larger_than_the_whole_budget_is_refused_and_the_others_stay() -> None:
    loaded, loads = models(10, {"a": 4, "huge": 11})
    loaded.get("a")

    with pytest.raises(OverMemoryBudget, match=r"'huge' takes 0\.00 GB, more than the 0\.00 GB") as refused:
        loaded.get("huge")
    assert isinstance(refused.value, MissingWeights)  # FAILED_PRECONDITION: not retryable
    assert loaded.loaded() == ["a"]
    with pytest.raises(OverMemoryBudget):
        loaded.get("huge")  # refused at once, its size known
    assert loads.events == ["load a", "load huge"]


def test_a_model_that_fails_to_load_leaves_the_loaded_ones_alone() -> None:
    loaded, loads = models(10, {"a": 4})
    loaded.get("a")

    with pytest.raises(MissingWeights):
        loaded.get("missing")

    assert loaded.loaded() == ["a"]
    assert loads.events == ["load a"]


@pytest.mark.parametrize("profile", ["embedded", "dgx-spark", "gpu-server"])
def test_the_plan_gives_each_model_serving_instance_its_memory_as_the_budget(tmp_path: Path, profile: str) -> None:
    planned = load_profile(profile)
    plan(planned, tmp_path)

    for model in ("demucs", "musicgen"):
        config = text_format.Parse((tmp_path / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        assert float(config.parameters["MEMORY_GB"].string_value) == planned.models[model].memory_gb


# -- demucs models by name -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("weights")
    separator.write_random_htdemucs(directory, "htdemucs", seed=0)
    separator.write_random_htdemucs(directory, "htdemucs_ft", seed=1)
    return directory


@pytest.fixture(scope="module")
def separators(weights_dir: Path) -> separator.Separators:
    return separator.Separators("htdemucs", weights_dir, budget_bytes=float("inf"), max_seconds=20)


def music(seconds: float, sample_rate: int = 44100) -> npt.NDArray[np.float32]:
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    left, right = 0.3 * np.sin(2 * np.pi * 220 * time), 0.3 * np.sin(2 * np.pi * 330 * time)
    noise = 0.05 * np.random.default_rng(0).standard_normal((len(time), 2))
    audio: npt.NDArray[np.float32] = (np.stack([left, right], axis=1) + noise).astype(np.float32)
    return audio


def test_each_separation_model_is_served_by_name_with_its_own_stems(separators: separator.Separators) -> None:
    audio = music(2.0)

    default = separators.get("").separate(audio, 44100)
    chosen = separators.get("htdemucs_ft").separate(audio, 44100)

    assert separators.get("") is separators.get("htdemucs")
    assert list(default) == list(chosen) == ["drums", "bass", "other", "vocals"]
    assert not np.allclose(default["vocals"], chosen["vocals"])


def test_an_unknown_separation_model_is_refused_listing_the_known_ones(separators: separator.Separators) -> None:
    with pytest.raises(separator.InvalidOption, match=r"unknown demucs model 'spleeter'; known models: .*htdemucs_ft"):
        separators.get("spleeter")


def test_a_separation_model_without_weights_names_its_files_and_the_pull(separators: separator.Separators) -> None:
    with pytest.raises(separator.MissingWeights, match=r"htdemucs_6s.*dgx-music models pull htdemucs_6s"):
        separators.get("htdemucs_6s")


def test_the_separation_catalog_says_which_models_are_loaded_ready_or_missing(weights_dir: Path) -> None:
    fresh = separator.Separators("htdemucs", weights_dir, budget_bytes=float("inf"))
    fresh.get("htdemucs")

    entries = {entry.name: entry for entry in fresh.catalog()}

    assert entries["htdemucs"] == catalog.Entry("htdemucs", catalog.State.LOADED, "", default=True)
    assert entries["htdemucs_ft"] == catalog.Entry("htdemucs_ft", catalog.State.READY, "")
    assert entries["htdemucs_6s"].state == catalog.State.WEIGHTS_MISSING
    assert "dgx-music models pull htdemucs_6s" in entries["htdemucs_6s"].message
    assert catalog.decode(catalog.encode(list(entries.values()))) == list(entries.values())


def test_separation_models_are_kept_within_the_budget(weights_dir: Path) -> None:
    one = separator.Separators("htdemucs", weights_dir, budget_bytes=float("inf"))
    size = one.loaded._size(one.get())
    budget = separator.Separators("htdemucs", weights_dir, budget_bytes=size * 1.5)

    budget.get("htdemucs")
    budget.get("htdemucs_ft")

    assert budget.loaded.loaded() == ["htdemucs_ft"]


def test_two_stems_are_the_stem_and_the_rest(separators: separator.Separators) -> None:
    model = separators.get()
    audio = music(2.0)
    every = model.separate(audio, 44100)

    two = model.separate(audio, 44100, separator.SeparationParams(two_stems="vocals"))

    assert list(two) == ["vocals", "no_vocals"]
    np.testing.assert_allclose(two["vocals"], every["vocals"], atol=1e-6)
    np.testing.assert_allclose(two["no_vocals"], every["drums"] + every["bass"] + every["other"], atol=1e-5)


def test_shifts_overlap_and_segment_change_the_stems_and_equal_requests_give_equal_stems(
    separators: separator.Separators,
) -> None:
    model = separators.get()
    audio = music(3.0)
    plain = model.separate(audio, 44100)["vocals"]
    progress: list[float] = []

    shifted = model.separate(audio, 44100, separator.SeparationParams(shifts=2), on_progress=progress.append)

    np.testing.assert_array_equal(
        shifted["vocals"], model.separate(audio, 44100, separator.SeparationParams(shifts=2))["vocals"]
    )
    assert not np.allclose(shifted["vocals"], plain)
    assert progress == sorted(progress)
    assert progress[-1] <= 1.0
    for params in (separator.SeparationParams(overlap=0.5), separator.SeparationParams(segment=2.0)):
        stems = model.separate(audio, 44100, params)
        assert stems["vocals"].shape == plain.shape
        assert not np.allclose(stems["vocals"], plain)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (separator.SeparationParams(two_stems="guitar"), "two_stems"),
        (separator.SeparationParams(shifts=-1), "shifts"),
        (separator.SeparationParams(shifts=21), "shifts"),
        (separator.SeparationParams(overlap=0.95), "overlap"),
        (separator.SeparationParams(overlap=float("nan")), "overlap"),
        (separator.SeparationParams(segment=0.5), "segment"),
        (separator.SeparationParams(segment=5.0), "segment"),  # longer than the tiny model's 4 s
    ],
)
def test_a_demucs_option_out_of_bounds_names_its_field(
    separators: separator.Separators, params: separator.SeparationParams, field: str
) -> None:
    with pytest.raises(separator.InvalidOption) as refused:
        separators.get().separate(music(1.0), 44100, params)
    assert refused.value.field == field


# -- MusicGen models by name, and continuation ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def generators() -> generator.Generators:
    generator.set_threads(2)
    return generator.Generators("debug-melody", Path("/nonexistent"), budget_bytes=float("inf"), max_seconds=60)


def test_each_musicgen_model_is_served_by_name(generators: generator.Generators) -> None:
    params = generator.GenerationParams(duration=1.0, seed=3)

    default = generators.get("").generate(["ambient"], params)[0]
    chosen = generators.get("debug").generate(["ambient"], params)[0]

    assert generators.get("") is generators.get("debug-melody")
    assert generators.get("debug").supports_melody is False
    assert default.shape == chosen.shape
    assert not np.allclose(default, chosen)


def test_an_unknown_musicgen_model_is_refused_listing_the_known_ones(generators: generator.Generators) -> None:
    with pytest.raises(generator.InvalidGeneration, match=r"unknown MusicGen model 'riffusion'; known models: .*"):
        generators.get("riffusion")
    assert generators.name_of("facebook/musicgen-melody") == "musicgen-melody"


def test_a_musicgen_model_without_weights_names_its_parts_and_the_pull(generators: generator.Generators) -> None:
    with pytest.raises(generator.MissingWeights, match=r"dgx-music models pull musicgen-melody"):
        generators.get("musicgen-melody")


def test_the_musicgen_catalog_lists_the_released_models_and_the_default(generators: generator.Generators) -> None:
    generators.get("")
    entries = {entry.name: entry for entry in generators.catalog()}

    assert list(entries)[:4] == list(generator.MODELS)
    assert {entries[name].state for name in generator.MODELS} == {catalog.State.WEIGHTS_MISSING}
    assert entries["debug-melody"] == catalog.Entry("debug-melody", catalog.State.LOADED, "", default=True)


def take(seconds: float, sample_rate: int) -> npt.NDArray[np.float32]:
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    audio: npt.NDArray[np.float32] = (0.3 * np.sin(2 * np.pi * 330 * time)).astype(np.float32)
    return audio


def test_a_continuation_is_the_take_followed_by_the_new_audio(generators: generator.Generators) -> None:
    model = generators.get("debug")
    audio = take(1.5, 32000)
    progress: list[tuple[int, int]] = []

    first, second = model.generate(
        ["more of it", "something else"],
        generator.GenerationParams(duration=2.0, seed=5),
        continued=audio,
        continued_sample_rate=32000,
        on_progress=lambda done, total: progress.append((done, total)),
    )

    assert first.shape == second.shape == (round(3.5 * 32000), model.channels)
    np.testing.assert_allclose(first[: len(audio), 0], audio, atol=1e-6)  # the take itself, sample for sample
    np.testing.assert_allclose(second[: len(audio), 0], audio, atol=1e-6)
    assert not np.allclose(first[len(audio) :], second[len(audio) :])
    assert progress[-1] == (model.total_tokens(2.0), model.total_tokens(2.0))


def test_a_take_at_another_rate_is_continued_at_32_khz(generators: generator.Generators) -> None:
    model = generators.get("debug")

    [clip] = model.generate(
        ["more"],
        generator.GenerationParams(duration=1.0, seed=1),
        continued=take(1.0, 44100),
        continued_sample_rate=44100,
    )

    assert clip.shape == (2 * 32000, model.channels)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration": 30.0}, "duration"),  # no room in the window for any of the take
        ({"continued": np.zeros(100, np.float32)}, "continued"),  # shorter than one codec frame
        ({"continued": np.full(32000, np.nan, np.float32)}, "continued"),
        ({"melody": [take(1.0, 32000)]}, "continued"),
    ],
)
def test_a_continuation_that_cannot_be_made_names_its_field(
    generators: generator.Generators, kwargs: dict[str, object], field: str
) -> None:
    model = generators.get("debug-melody")
    params = generator.GenerationParams(duration=float(kwargs.pop("duration", 1.0)))  # type: ignore[arg-type]
    given: dict[str, object] = {"continued": take(1.0, 32000), **kwargs}

    with pytest.raises(generator.InvalidGeneration) as refused:
        model.validate(["x"], params, given.get("melody"), 32000, given["continued"], 32000)  # type: ignore[arg-type]
    assert refused.value.field == field


# -- clients reading `models list` ---------------------------------------------------------------------------------


class Listed:
    def __init__(self, *models: pb.ModelStatus) -> None:
        self.models = list(models)

    def list_models(self) -> list[pb.ModelStatus]:
        return self.models


def test_the_ardour_actions_judge_musicgen_by_its_default_not_by_the_models_a_call_could_name() -> None:
    ready = pb.ModelStatus(name="musicgen", state=pb.MODEL_STATE_READY)
    served = pb.ModelStatus(name="musicgen-large", state=pb.MODEL_STATE_WEIGHTS_MISSING, served_by="musicgen")

    check_musicgen(Listed(ready, served))  # type: ignore[arg-type]
