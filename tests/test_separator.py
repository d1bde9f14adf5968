"""The separator with demucs' real code: a tiny random HTDemucs written in demucs' file format to a weights
directory and loaded through `demucs.pretrained.get_model`, never constructed here."""

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

import separator

SOURCES = ("vocals", "bass", "rest")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("weights")
    separator.write_random_htdemucs(directory, "tiny", sources=SOURCES)
    return directory


@pytest.fixture(scope="module")
def tiny(weights_dir: Path) -> separator.Separator:
    return separator.Separator(separator.load_model("tiny", weights_dir), max_seconds=20)


def music(seconds: float, sample_rate: int, channels: int = 2) -> npt.NDArray[np.float32]:
    frames = int(seconds * sample_rate)
    time = np.arange(frames) / sample_rate
    tones = [0.3 * np.sin(2 * np.pi * (220 + 110 * channel) * time) for channel in range(channels)]
    noise = 0.05 * np.random.default_rng(0).standard_normal((frames, channels))
    audio: npt.NDArray[np.float32] = (np.stack(tones, axis=1) + noise).astype(np.float32)
    return audio


def test_stems_are_named_by_the_model_at_its_rate_and_input_length(tiny: separator.Separator) -> None:
    stems = tiny.separate(music(3.0, 48000), 48000)

    assert tiny.sample_rate == 44100
    assert list(stems) == list(SOURCES)
    for stem in stems.values():
        assert stem.shape == (3 * 44100, 2)
        assert stem.dtype == np.float32
        assert np.isfinite(stem).all()


def test_mono_at_44_1_khz_comes_back_stereo(tiny: separator.Separator) -> None:
    stems = tiny.separate(music(2.5, 44100, channels=1)[:, 0], 44100)

    assert {stem.shape for stem in stems.values()} == {(int(2.5 * 44100), 2)}


def test_progress_rises_once_per_chunk_to_one(tiny: separator.Separator) -> None:
    audio = music(10.0, 44100)
    progress: list[float] = []

    tiny.separate(audio, 44100, on_progress=progress.append)

    assert len(progress) == tiny.chunks(len(audio)) > 1
    assert progress == sorted(progress)
    assert progress[-1] == 1.0


def test_cancellation_stops_between_chunks(tiny: separator.Separator) -> None:
    progress: list[float] = []

    with pytest.raises(separator.SeparationCancelled, match="after 1 of 4 chunks"):
        tiny.separate(music(10.0, 44100), 44100, on_progress=progress.append, is_cancelled=lambda: bool(progress))

    assert progress == [0.25]


def test_missing_weights_name_the_files_where_they_were_looked_for_and_how_to_fetch_them(tmp_path: Path) -> None:
    with pytest.raises(separator.MissingWeights) as missing:
        separator.load_model("htdemucs", tmp_path)

    message = str(missing.value)
    assert f"in weights directory {tmp_path}: htdemucs.yaml, 955717e8-8726e21a.th" in message
    assert "Hugging Face cache" in message
    assert "955717e8.safetensors" in message
    assert "`dgx-music models pull htdemucs`" in message


def test_a_missing_model_file_is_named_even_when_its_bag_is_present(tmp_path: Path) -> None:
    separator.write_random_htdemucs(tmp_path, "tiny")
    (model_file,) = tmp_path.glob("*.th")
    model_file.unlink()

    with pytest.raises(separator.MissingWeights, match=f"{model_file.name.split('-')[0]}.th"):
        separator.load_model("tiny", tmp_path)


def test_unknown_model_lists_the_known_ones(weights_dir: Path) -> None:
    with pytest.raises(separator.UnknownModel, match=r"known models: .*htdemucs_6s.*tiny"):
        separator.load_model("htdemucs_99s", weights_dir)


@pytest.mark.parametrize(
    ("audio", "sample_rate", "field", "reason"),
    [
        (np.full((1000, 2), np.nan, np.float32), 44100, "audio", "NaN or infinite"),
        (np.full((1000, 2), np.inf, np.float32), 44100, "audio", "NaN or infinite"),
        (np.zeros((44100, 2), np.float32), 44100, "audio", "silent"),
        # A constant offset alone is silence too (demucs divided by its zero deviation and tripped an assertion).
        (np.full((44100, 2), 0.5, np.float32), 44100, "audio", "silent"),
        (np.full((441, 2), 0.5, np.float32), 44100, "audio", "silent"),
        # Two frames at 96 kHz resample to less than one frame at 44.1 kHz: demucs failed on an empty tensor.
        (np.array([[0.5, -0.5], [-0.5, 0.5]], np.float32), 96000, "audio", "shorter than 10 ms"),
        (np.zeros((0, 2), np.float32), 44100, "audio", "empty"),
        (np.ones((1000, 3), np.float32), 44100, "audio", "shape"),
        (np.ones((1000, 2), np.int16), 44100, "audio", "floating-point"),
        (np.ones((1000, 2), np.float32), 1000, "sample_rate", "8000-192000 Hz, got 1000"),
    ],
    ids=["nan", "inf", "silence", "dc", "dc 10 ms", "2 frames", "empty", "channels", "integers", "sample_rate"],
)
def test_bad_audio_names_the_field_and_problem(
    tiny: separator.Separator, audio: npt.NDArray[np.floating[Any]], sample_rate: int, field: str, reason: str
) -> None:
    with pytest.raises(separator.InvalidAudio, match=reason) as error:
        tiny.separate(audio, sample_rate)

    assert error.value.field == field


def test_audio_over_the_limit_is_too_long(tiny: separator.Separator) -> None:
    with pytest.raises(separator.AudioTooLong, match=r"21\.0 s long, over the limit of 20 s"):
        tiny.separate(np.ones((21 * 8000, 2), np.float32), 8000)


def test_torch_threads_are_settable() -> None:
    before = torch.get_num_threads()
    try:
        separator.set_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        separator.set_threads(before)


@pytest.mark.parametrize(
    ("audio", "sample_rate"),
    [
        (music(0.01, 8000), 8000),  # the shortest audio taken, at the lowest rate
        (music(0.01, 192000), 192000),  # ... and at the highest
        (music(1.0, 44100) + 0.5, 44100),  # music on a constant offset
        (np.pad(np.full((1000, 2), 0.5, np.float32), ((44100, 0), (0, 0))), 44100),  # a step
    ],
    ids=["10 ms at 8 kHz", "10 ms at 192 kHz", "offset music", "step"],
)
def test_edge_signals_give_finite_stems(
    tiny: separator.Separator, audio: npt.NDArray[np.float32], sample_rate: int
) -> None:
    stems = tiny.separate(audio, sample_rate)
    for stem in stems.values():
        assert stem.shape == (round(audio.shape[0] * 44100 / sample_rate), 2)
        assert np.isfinite(stem).all()
