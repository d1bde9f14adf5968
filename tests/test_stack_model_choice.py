"""Choosing the model per call through the real stack: two separation models (tiny random HTDemucs written as
"htdemucs" and "htdemucs_ft" in demucs' own file format) and two MusicGen models (audiocraft's debug models) served
side by side, each giving its own results; a model without weights refused as FAILED_PRECONDITION (exit 69) and an
unknown one as INVALID_ARGUMENT (exit 2); demucs' options from the CLI; MusicGen continuing a take; `models list`
showing every model."""

import os
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from test_stack_cli_scripting import results, said

from clients.client import MusicClient
from clients.errors import DgxMusicError
from deploy.launcher import Stack
from dgxmusic.v1 import music_service_pb2 as pb
from separator import write_random_htdemucs

RATE = 44100


@pytest.fixture(scope="module")
def second_separator(stack: Stack) -> str:
    """A second separation model beside the stack's "htdemucs": other random weights under htdemucs_ft's name."""
    write_random_htdemucs(stack.settings.weights_dir, "htdemucs_ft", seed=1)
    return "htdemucs_ft"


def music(seconds: float = 2.0, rate: int = RATE) -> npt.NDArray[np.float32]:
    time = np.arange(int(seconds * rate)) / rate
    left, right = 0.3 * np.sin(2 * np.pi * 220 * time), 0.3 * np.sin(2 * np.pi * 330 * time)
    noise = 0.05 * np.random.default_rng(0).standard_normal((len(time), 2))
    audio: npt.NDArray[np.float32] = (np.stack([left, right], axis=1) + noise).astype(np.float32)
    return audio


def take(path: Path, seconds: float = 2.0, rate: int = RATE) -> Path:
    soundfile.write(path, music(seconds, rate), rate, subtype="FLOAT")
    return path


def dgx_music(stack: Stack, *args: str) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "clients.cli", *args, "--server", stack.gateway_target]
    # Wide enough for rich's table not to wrap a model's name.
    return subprocess.run(argv, capture_output=True, timeout=180, check=False, env=os.environ | {"COLUMNS": "300"})


def test_two_separation_models_chosen_per_call_give_their_own_stems(client: MusicClient, second_separator: str) -> None:
    audio = (music(), RATE)

    default = client.separate(audio, pb.SeparationOptions())
    named = client.separate(audio, pb.SeparationOptions(model="htdemucs"))
    chosen = client.separate(audio, pb.SeparationOptions(model=second_separator))

    assert set(default.stems) == set(chosen.stems) == {"drums", "bass", "other", "vocals"}
    np.testing.assert_array_equal(named.stems["vocals"], default.stems["vocals"])
    assert not np.allclose(chosen.stems["vocals"], default.stems["vocals"])


def test_compose_separates_its_mix_with_the_model_it_names(client: MusicClient, second_separator: str) -> None:
    def separated(model: str) -> dict[str, npt.NDArray[np.float32]]:
        request = pb.ComposeRequest(
            prompt="lofi hip hop", options=pb.SongOptions(bars=2, seed=3), stems=False, separate=model
        )
        return client.compose(request).stems

    default, chosen = separated("demucs"), separated(second_separator)

    assert set(default) == set(chosen) == {f"demucs/{stem}" for stem in ("drums", "bass", "other", "vocals")}
    assert not np.allclose(default["demucs/vocals"], chosen["demucs/vocals"])
    np.testing.assert_array_equal(separated("htdemucs")["demucs/vocals"], default["demucs/vocals"])


@pytest.mark.parametrize(
    ("model", "code"),
    [("htdemucs_6s", grpc.StatusCode.FAILED_PRECONDITION), ("spleeter", grpc.StatusCode.INVALID_ARGUMENT)],
)
def test_a_compose_naming_a_separation_model_that_cannot_run_is_refused_before_any_work(
    client: MusicClient, model: str, code: grpc.StatusCode
) -> None:
    request = pb.ComposeRequest(prompt="lofi hip hop", options=pb.SongOptions(bars=2), separate=model)

    with pytest.raises(DgxMusicError) as refused:
        client.compose(request)

    assert refused.value.code == code
    assert [violation.field for violation in refused.value.violations] == ["separate"]
    assert model in refused.value.message
    assert refused.value.partial_result is None  # nothing was made


def test_a_separation_model_without_weights_exits_69_and_an_unknown_one_2(stack: Stack, tmp_path: Path) -> None:
    song = take(tmp_path / "take.wav")

    missing = dgx_music(stack, "separate", str(song), "--model", "htdemucs_6s", "--out", str(tmp_path / "a"), "--json")
    unknown = dgx_music(stack, "separate", str(song), "--model", "spleeter", "--out", str(tmp_path / "b"), "--json")

    assert missing.returncode == 69, said(missing)
    (failed,) = results(missing)
    assert failed["error"]["code"] == "FAILED_PRECONDITION"
    assert "htdemucs_6s" in failed["error"]["message"]
    assert "dgx-music models pull htdemucs_6s" in failed["error"]["message"]
    assert unknown.returncode == 2, said(unknown)
    (refused,) = results(unknown)
    assert refused["error"]["code"] == "INVALID_ARGUMENT"
    assert refused["error"]["violations"][0]["field"] == "options.model"
    assert "unknown demucs model 'spleeter'; known models:" in refused["error"]["message"]
    assert "htdemucs_ft" in refused["error"]["message"]


def test_two_stems_and_demucs_options_from_the_cli(stack: Stack, tmp_path: Path, second_separator: str) -> None:
    song = take(tmp_path / "take.wav")
    out = tmp_path / "stems"

    done = dgx_music(
        stack, "separate", str(song), "--model", second_separator, "--two-stems", "vocals", "--shifts", "1",
        "--overlap", "0.5", "--segment", "2", "--out", str(out), "--json",
    )  # fmt: skip

    assert done.returncode == 0, said(done)
    assert sorted(path.name for path in out.iterdir()) == ["no_vocals.wav", "vocals.wav"]
    vocals, rate = soundfile.read(out / "vocals.wav")
    assert (rate, vocals.shape) == (RATE, (2 * RATE, 2))
    wrong = dgx_music(stack, "separate", str(song), "--two-stems", "guitar", "--out", str(tmp_path / "x"), "--json")
    assert wrong.returncode == 2, said(wrong)
    (refused,) = results(wrong)
    assert refused["error"]["violations"][0]["field"] == "options.two_stems"
    assert "drums, bass, other, vocals" in refused["error"]["message"]
    over = dgx_music(stack, "separate", str(song), "--shifts", "99", "--out", str(tmp_path / "y"), "--json")
    assert over.returncode == 2
    assert results(over)[0]["error"]["violations"][0]["field"] == "options.shifts"


def test_two_musicgen_models_chosen_per_call_give_their_own_audio(
    stack: Stack, client: MusicClient, tmp_path: Path
) -> None:
    def clip(model: str) -> npt.NDArray[np.float32]:
        request = pb.GenerateAudioRequest(prompt="lofi keys", model=model, seconds=1, seed=9, bypass_cache=True)
        return client.generate_audio(request).stems["0"]

    default, chosen = clip(""), clip("debug")

    np.testing.assert_array_equal(clip("debug-melody"), default)
    assert default.shape == chosen.shape
    assert not np.allclose(default, chosen)
    with pytest.raises(DgxMusicError) as unknown:
        clip("riffusion")
    assert unknown.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown MusicGen model 'riffusion'; known models: musicgen-small" in unknown.value.message
    missing = dgx_music(
        stack, "generate", "jazz", "--model", "facebook/musicgen-large", "--out", str(tmp_path / "x.wav"), "--json"
    )
    assert missing.returncode == 69, said(missing)
    assert "dgx-music models pull musicgen-large" in results(missing)[0]["error"]["message"]


def test_generate_continues_a_take_which_the_result_starts_with(stack: Stack, tmp_path: Path) -> None:
    song = take(tmp_path / "take.wav", seconds=1.5, rate=32000)
    out = tmp_path / "continued.wav"

    done = dgx_music(
        stack, "generate", "more of the same", "--continue", str(song), "--model", "debug", "--seconds", "2",
        "--seed", "4", "--sample-format", "float32", "--out", str(out), "--json",
    )  # fmt: skip

    assert done.returncode == 0, said(done)
    continued, rate = soundfile.read(out, dtype="float32")
    given, _ = soundfile.read(song, dtype="float32")
    assert rate == 32000
    assert continued.shape[0] == round(3.5 * 32000)
    # The take itself (downmixed to the debug model's one channel), then MusicGen's continuation of it.
    np.testing.assert_allclose(continued[: len(given)], given.mean(axis=1), atol=1e-5)
    assert np.abs(continued[len(given) :]).max() > 0
    both = dgx_music(
        stack, "generate", "x", "--continue", str(song), "--melody", str(song), "--out", str(tmp_path / "b.wav")
    )
    assert both.returncode == 2
    assert "continue_audio" in said(both)


def test_models_list_shows_every_separation_and_musicgen_model(
    stack: Stack, client: MusicClient, second_separator: str
) -> None:
    client.separate((music(0.5), RATE), pb.SeparationOptions())  # the default, loaded

    done = dgx_music(stack, "models", "list", "--json")

    assert done.returncode == 0, said(done)
    (listed,) = results(done)
    served = {(m["served_by"], m["name"]): m for m in listed["models"] if m.get("served_by")}
    assert served["demucs", "htdemucs"]["state"] == "MODEL_STATE_LOADED"
    assert served["demucs", "htdemucs"]["is_default"]
    assert served["demucs", second_separator]["state"] in ("MODEL_STATE_READY", "MODEL_STATE_LOADED")
    assert served["demucs", "htdemucs_6s"]["state"] == "MODEL_STATE_WEIGHTS_MISSING"
    assert "dgx-music models pull htdemucs_6s" in served["demucs", "htdemucs_6s"]["message"]
    assert served["musicgen", "debug-melody"]["is_default"]
    for name in ("musicgen-small", "musicgen-medium", "musicgen-melody", "musicgen-large"):
        assert served["musicgen", name]["state"] == "MODEL_STATE_WEIGHTS_MISSING"
    table = dgx_music(stack, "models", "list").stdout.decode()
    assert "htdemucs (default)" in table
    assert "fetch with `dgx-music models pull htdemucs_6s`" in table
