"""Training LoRA adapters on MusicGen (generator.training) and applying them (generator.adapters), on audiocraft's
tiny `debug` MusicGen with real peft: the training set is the stack's own boom bap, composed by the composer with
different seeds and rendered by FluidSynth."""

import json
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

import generator
from composer import SongRequest, compose
from generator.adapters import AdapterStore, AppliedAdapters
from generator.training import (
    PreparedData,
    TrainingClip,
    TrainingConfig,
    TrainingProgress,
    TrainingResult,
    prepare,
    save_adapter,
    train,
)
from renderers import DEFAULT_SOUNDFONT_DIRS, FluidSynthRenderer, SoundFontLibrary, parse_midi

if TYPE_CHECKING:
    from audiocraft.models.musicgen import MusicGen

RENDER_RATE = 44100  # not the model's 32 kHz: preparing resamples
CLIP_SECONDS = 4.0
GENRE = ("boom bap", "hip hop")
CONFIG = TrainingConfig(
    steps=30,
    learning_rate=3e-3,
    batch_size=4,
    chunk_seconds=2.0,
    min_seconds=1.0,
    validation_fraction=0.25,
    checkpoint_every=10,
    genre_words=GENRE,
)
SAME_SEED = generator.GenerationParams(duration=1.0, seed=5)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model() -> "MusicGen":
    generator.set_threads(2)
    return generator.load_model("debug")


@pytest.fixture(scope="module")
def served() -> "MusicGen":
    """A model of its own to apply adapters to (the module's model trains, and a training model must have none)."""
    return generator.load_model("debug")


@pytest.fixture
def applying(served: "MusicGen") -> Iterator[Callable[..., AppliedAdapters]]:
    """AppliedAdapters on the served model; closed after the test, which leaves the model without LoRA layers."""
    made: list[AppliedAdapters] = []

    def make(store: AdapterStore, max_loaded: int = 4) -> AppliedAdapters:
        made.append(AppliedAdapters(served, store, max_loaded))
        return made[-1]

    yield make
    for applied in made:
        applied.close()
    assert not any("lora" in name for name, _ in served.lm.named_modules())


@pytest.fixture(scope="module")
def clips() -> list[TrainingClip]:
    """Eight boom bap songs (one genre, eight seeds), rendered and cut to their first seconds."""
    library = SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS)
    with FluidSynthRenderer(library.resolve("TimGM6mb"), RENDER_RATE) as renderer:
        rendered = []
        for seed in range(8):
            song = compose(SongRequest("boom bap hip hop beat with jazz piano", seconds=CLIP_SECONDS, seed=seed))
            mix = renderer.render(parse_midi(song.midi), stems=False).mix
            rendered.append(TrainingClip(f"song-{seed}.wav", mix[: round(CLIP_SECONDS * RENDER_RATE)], RENDER_RATE))
    return rendered


@pytest.fixture(scope="module")
def data(model: "MusicGen", clips: list[TrainingClip]) -> PreparedData:
    return prepare(model, clips, CONFIG)


@pytest.fixture(scope="module")
def trained(
    model: "MusicGen", data: PreparedData, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingResult, list[TrainingProgress]]:
    reported: list[TrainingProgress] = []
    result = train(model, data, CONFIG, tmp_path_factory.mktemp("work"), reported.append, lambda: False)
    return result, reported


@pytest.fixture(scope="module")
def store(
    trained: tuple[TrainingResult, list[TrainingProgress]], tmp_path_factory: pytest.TempPathFactory
) -> AdapterStore:
    directory = tmp_path_factory.mktemp("adapters")
    save_adapter(trained[0], directory, "my-boombap", {"data_dir": "/music/boombap"})
    return AdapterStore(directory)


def generate(model: "MusicGen") -> npt.NDArray[np.float32]:
    return generator.Generator(model).generate(["boom bap, hip hop"], SAME_SEED)[0]


def cancel_after(steps: int) -> Callable[[], bool]:
    asked = iter(range(10**6))
    return lambda: next(asked) >= steps


# --- preparing ---------------------------------------------------------------------------------------------------


def test_data_is_chunked_and_split_by_clip_with_captions_from_tempo_and_key(data: PreparedData) -> None:
    assert len(data.train) + len(data.validation) == 8 * 2  # two 2 s chunks of each 4 s song
    held_back = {chunk.clip for chunk in data.validation}
    assert len(held_back) == 2
    assert held_back.isdisjoint(chunk.clip for chunk in data.train)
    assert all(chunk.tokens.shape == (4, 50) for chunk in data.train)  # 4 codebooks, 25 Hz for 2 s
    for caption in data.captions.values():
        genre, tempo, key = caption.rsplit(", ", 2)
        assert genre == "boom bap, hip hop"
        assert tempo.endswith(" bpm")
        assert key.split()[-1] in ("major", "minor")
    assert len(set(data.checksums.values())) == 8


def test_a_clips_own_caption_is_kept_and_prepared_data_is_read_back_from_the_cache(
    model: "MusicGen", clips: list[TrainingClip], tmp_path: Path
) -> None:
    captioned = [replace(clips[0], caption="dusty drums, vinyl crackle"), *clips[1:3]]
    separated: list[str] = []

    def quieter(samples: npt.NDArray[np.float32], _rate: int) -> npt.NDArray[np.float32]:
        separated.append("once")
        return samples * 0.5

    config = replace(CONFIG, drop_vocals=True)
    first = prepare(model, captioned, config, quieter, cache_dir=tmp_path)
    again = prepare(model, captioned, config, quieter, cache_dir=tmp_path)

    assert first.captions["song-0.wav"] == "dusty drums, vinyl crackle"
    assert len(separated) == 3  # the second preparation separated (and encoded) nothing
    assert again.captions == first.captions
    assert [chunk.clip for chunk in again.validation] == [chunk.clip for chunk in first.validation]
    for kept, read in zip((*first.train, *first.validation), (*again.train, *again.validation), strict=True):
        np.testing.assert_array_equal(kept.tokens, read.tokens)


def test_preparing_stops_when_cancelled(model: "MusicGen", clips: list[TrainingClip], tmp_path: Path) -> None:
    with pytest.raises(generator.TrainingCancelled, match=r"before song-2\.wav"):
        prepare(model, clips, CONFIG, cache_dir=tmp_path, cancelled=cancel_after(2))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("clip", "field", "words"),
    [
        (TrainingClip("silent.wav", np.zeros((44100 * 3, 2), np.float32), 44100), "data/silent.wav", "silent"),
        (TrainingClip("short.wav", np.full((4410, 1), 0.5, np.float32), 44100), "data/short.wav", "at least 1 s"),
        (TrainingClip("broken.wav", np.full((44100 * 2, 1), np.nan, np.float32), 44100), "data/broken.wav", "NaN"),
    ],
)
def test_bad_clips_are_refused_by_name(
    model: "MusicGen", clips: list[TrainingClip], clip: TrainingClip, field: str, words: str
) -> None:
    with pytest.raises(generator.TrainingDataError) as refused:
        prepare(model, [clips[0], clip], CONFIG)
    assert refused.value.field == field
    assert words in refused.value.reason


def test_no_clips_or_too_little_audio_is_refused(model: "MusicGen", clips: list[TrainingClip]) -> None:
    with pytest.raises(generator.TrainingDataError, match="no audio files") as nothing:
        prepare(model, [], CONFIG)
    assert nothing.value.field == "data"
    one_chunk = replace(clips[0], samples=clips[0].samples[: RENDER_RATE * 2])
    with pytest.raises(generator.TrainingDataError, match="at least two chunks"):
        prepare(model, [one_chunk], CONFIG)


@pytest.mark.parametrize(
    ("field", "value"), [("rank", 0), ("learning_rate", 0.0), ("min_seconds", 3.0), ("validation_fraction", 0.9)]
)
def test_hyper_parameters_out_of_range_are_refused_by_field(
    model: "MusicGen", clips: list[TrainingClip], field: str, value: float
) -> None:
    overrides: dict[str, Any] = {field: value}
    with pytest.raises(generator.InvalidTraining) as refused:
        prepare(model, clips, replace(CONFIG, **overrides))
    assert refused.value.field == field


# --- training ----------------------------------------------------------------------------------------------------


def test_training_on_the_genre_lowers_its_validation_loss_below_the_base_models(
    trained: tuple[TrainingResult, list[TrainingProgress]],
) -> None:
    result, reported = trained
    assert result.adapter_validation_loss < result.base_validation_loss
    assert [progress.step for progress in reported] == list(range(1, CONFIG.steps + 1))
    assert all(progress.steps == CONFIG.steps and np.isfinite(progress.loss) for progress in reported)
    assert np.mean(result.train_losses[-5:]) < np.mean(result.train_losses[:5])
    assert result.resumed_from == 0
    assert result.base_model == "debug"


def test_the_adapter_changes_generation_and_the_base_model_stays_as_it_was(
    served: "MusicGen", applying: Callable[..., AppliedAdapters], store: AdapterStore
) -> None:
    base_before = generate(served)
    applied = applying(store)
    with applied.using("my-boombap"):
        adapted = generate(served)
    with applied.using(""):
        base_after = generate(served)

    assert not np.array_equal(adapted, base_before)
    np.testing.assert_array_equal(base_after, base_before)
    assert applied.loaded() == ["my-boombap"]


def test_a_resumed_run_continues_at_its_checkpoint_and_ends_as_an_uninterrupted_one(
    model: "MusicGen", data: PreparedData, tmp_path: Path
) -> None:
    config = replace(CONFIG, steps=6, checkpoint_every=3)
    whole = train(model, data, config, tmp_path / "whole", lambda _: None, lambda: False)
    with pytest.raises(generator.TrainingCancelled):
        train(model, data, config, tmp_path / "resumed", lambda _: None, cancel_after(4))
    reported: list[TrainingProgress] = []
    resumed = train(model, data, config, tmp_path / "resumed", reported.append, lambda: False)

    assert resumed.resumed_from == 3
    assert [progress.step for progress in reported] == [4, 5, 6]
    assert resumed.train_losses == whole.train_losses
    assert resumed.adapter_validation_loss == whole.adapter_validation_loss
    assert resumed.state.keys() == whole.state.keys()
    for name, tensor in whole.state.items():
        torch.testing.assert_close(resumed.state[name], tensor)


def test_a_cancelled_run_leaves_no_adapter_and_the_model_without_lora(
    model: "MusicGen", data: PreparedData, tmp_path: Path
) -> None:
    base = generate(model)
    with pytest.raises(generator.TrainingCancelled, match="after 3 of 30 steps"):
        train(model, data, CONFIG, tmp_path / "work", lambda _: None, cancel_after(3))

    assert not any("lora" in name for name, _ in model.lm.named_modules())
    assert all(parameter.requires_grad for parameter in model.lm.parameters())
    np.testing.assert_array_equal(generate(model), base)
    assert AdapterStore(tmp_path / "adapters").names() == []


def test_a_save_that_fails_leaves_nothing_behind(
    trained: tuple[TrainingResult, list[TrainingProgress]], tmp_path: Path
) -> None:
    broken = replace(trained[0], state={"not a tensor": "oops"})  # type: ignore[dict-item]
    with pytest.raises(AttributeError):
        save_adapter(broken, tmp_path, "half-written", {})
    assert list(tmp_path.iterdir()) == []


# --- the store and applying ----------------------------------------------------------------------------------------


def test_a_saved_adapter_keeps_its_recipe_and_peft_files(store: AdapterStore) -> None:
    (info,) = store.list()
    assert info.name == "my-boombap"
    assert info.base_model == "debug"
    assert sorted(path.name for path in info.path.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "recipe.json",
    ]
    recipe = json.loads((info.path / "recipe.json").read_text())
    assert recipe["data_dir"] == "/music/boombap"
    assert recipe["hyper_parameters"]["rank"] == CONFIG.rank
    assert recipe["adapter_validation_loss"] < recipe["base_validation_loss"]
    assert len(recipe["data_checksums"]) == 8
    assert len(recipe["train_losses"]) == CONFIG.steps


def test_adapter_names_are_slugs_and_not_reused(
    trained: tuple[TrainingResult, list[TrainingProgress]], store: AdapterStore
) -> None:
    for bad in ("", "My-Boombap", "../etc", "a" * 65, "-edge", "train_set"):
        with pytest.raises(generator.InvalidAdapter) as refused:
            save_adapter(trained[0], store.directory, bad, {})
        assert refused.value.field == "name"
    with pytest.raises(generator.InvalidAdapter, match="exists already"):
        save_adapter(trained[0], store.directory, "my-boombap", {})


def test_unknown_adapters_and_adapters_of_another_base_model_are_refused(
    served: "MusicGen", applying: Callable[..., AppliedAdapters], store: AdapterStore, tmp_path: Path
) -> None:
    other = AdapterStore(tmp_path)
    shutil.copytree(store.directory / "my-boombap", tmp_path / "small-boombap")
    recipe = json.loads((tmp_path / "small-boombap" / "recipe.json").read_text())
    (tmp_path / "small-boombap" / "recipe.json").write_text(json.dumps({**recipe, "base_model": "musicgen-small"}))
    applied = applying(other)

    with pytest.raises(generator.UnknownAdapter, match=r"'nope'.*small-boombap"), applied.using("nope"):
        pass
    with (
        pytest.raises(generator.InvalidAdapter, match=r"'musicgen-small'.*'debug'") as mismatch,
        applied.using("small-boombap"),
    ):
        pass
    assert mismatch.value.field == "adapter"
    with pytest.raises(generator.InvalidAdapter), applied.using("Not A Slug"):
        pass
    assert applied.loaded() == []


def test_batches_with_different_adapters_from_many_threads_each_get_their_own(
    served: "MusicGen", applying: Callable[..., AppliedAdapters], store: AdapterStore
) -> None:
    applied = applying(store)

    def generate_with(adapter: str) -> npt.NDArray[np.float32]:
        with applied.using(adapter):
            return generate(served)

    alone = {adapter: generate_with(adapter) for adapter in ("", "my-boombap")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(generate_with, ["", "my-boombap"] * 3))
    for index, clip in enumerate(together):
        np.testing.assert_array_equal(clip, alone[["", "my-boombap"][index % 2]])


def test_at_most_max_loaded_adapters_are_kept_least_recently_used_first_out(
    served: "MusicGen", applying: Callable[..., AppliedAdapters], store: AdapterStore, tmp_path: Path
) -> None:
    several = AdapterStore(tmp_path)
    for name in ("one", "two", "three"):
        shutil.copytree(store.directory / "my-boombap", tmp_path / name)
    applied = applying(several, 2)
    for name in ("one", "two", "one", "three"):
        with applied.using(name):
            pass
    assert applied.loaded() == ["one", "three"]
    with applied.using("two"):
        two = generate(served)
    with applied.using("one"):
        one = generate(served)
    np.testing.assert_array_equal(one, two)  # the same weights under two names
    several.delete("two")
    applied.forget("two")
    assert several.names() == ["one", "three"]
    assert applied.loaded() == ["one"]
