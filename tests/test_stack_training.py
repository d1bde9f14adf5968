"""Fine-tuning through the real stack: `dgx-music train` on songs of one genre the stack composes and renders itself,
run as a job on the musicgen_train model (audiocraft's tiny 'debug' MusicGen), then generation with the adapter it
saved; bad data, unknown adapters and a cancelled training get their clear answers."""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile
from mcp.client import Client

from clients.client import AsyncMusicClient, MusicClient, TrainResult, compose_request, song_options
from clients.errors import DgxMusicError
from clients.mcp.tools import Ardour, ToolConfig, create_app
from deploy.launcher import Stack
from deploy.triton import grpc_key_headers
from dgxmusic.v1 import jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.jobs_pb2_grpc import JobServiceStub
from gateway.errors import ApiError
from gateway.triton import TritonModels

GENRE = "lofi hip hop beat 80 BPM"
CAPTION = "lofi hip hop beat, dusty drums, mellow keys"
# The base model trained here: the stack's default ('debug-melody') conditions on a melody, which training does not
# feed; the plain 'debug' model is served beside it (as musicgen-small is beside musicgen-melody on a real server).
BASE = "debug"
ADAPTER = "lofi"


def dgx_music(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "clients.cli", *args, "--server", stack.gateway_target]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)


def quick_training(name: str, **settings: Any) -> pb.TrainRequest:
    """A training small enough for a test: a few steps on chunks of 2 s, at a rate that moves the tiny model."""
    return pb.TrainRequest(
        name=name, model=BASE, chunk_seconds=2.0, seed=0, learning_rate=3e-3, **{"steps": 12, **settings}
    )


@pytest.fixture(scope="module")
def lofi_songs(client: MusicClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five 4-second songs of one genre, composed and rendered by the stack, each but the first with its caption
    beside it (the first gets one made from its tempo and key)."""
    folder = tmp_path_factory.mktemp("lofi")
    for seed in range(5):
        song = client.compose(compose_request(GENRE, options=song_options(seconds=4, seed=seed), stems=False))
        soundfile.write(folder / f"song{seed}.wav", song.mix, song.sample_rate)
        if seed:
            (folder / f"song{seed}.txt").write_text(CAPTION)
    return folder


@pytest.fixture(scope="module")
def trained(stack: Stack, lofi_songs: Path) -> dict[str, Any]:
    """`dgx-music train` on the songs: the adapter it printed (--json)."""
    done = dgx_music(
        stack, "train", "--name", ADAPTER, "--data", str(lofi_songs), "--model", BASE, "--genre", "lofi hip hop",
        "--steps", "12", "--chunk-seconds", "2", "--learning-rate", "3e-3", "--seed", "0", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "loss" in done.stderr  # the progress bar showed the training loss
    told: dict[str, Any] = json.loads(done.stdout)
    return told


def test_training_lowers_the_validation_loss_on_its_genre(trained: dict[str, Any], stack: Stack) -> None:
    adapter = trained["adapter"]
    assert adapter["name"] == ADAPTER
    assert adapter["base_model"] == BASE
    assert 0 < adapter["adapter_validation_loss"] < adapter["base_validation_loss"]
    assert adapter["steps"] == 12
    recipe = json.loads(adapter["recipe_json"])
    assert set(recipe["data_checksums"]) == {f"song{seed}.wav" for seed in range(5)}
    assert recipe["captions"]["song1.wav"] == CAPTION
    assert recipe["captions"]["song0.wav"].startswith("lofi, hip, hop") or "bpm" in recipe["captions"]["song0.wav"]
    # Saved where the musicgen model reads adapters, with nothing left of the run beside it.
    adapters = stack.settings.adapter_dir
    assert (adapters / ADAPTER / "adapter_model.safetensors").is_file()
    assert not (adapters / ".training" / ADAPTER).exists()


def test_models_list_shows_the_adapter(trained: dict[str, Any], stack: Stack) -> None:
    done = dgx_music(stack, "models", "list", "--json")
    assert done.returncode == 0, done.stderr
    [listed] = [a for a in json.loads(done.stdout)["adapters"] if a["name"] == ADAPTER]
    assert listed["base_model"] == BASE
    assert listed["adapter_validation_loss"] == trained["adapter"]["adapter_validation_loss"]
    table = dgx_music(stack, "models", "list")
    assert ADAPTER in table.stdout
    assert "base -> adapter" in table.stdout


def test_generation_with_the_adapter_differs_from_the_base(
    trained: dict[str, Any], client: MusicClient, stack: Stack, tmp_path: Path
) -> None:
    def generate(adapter: str) -> Any:
        request = pb.GenerateAudioRequest(prompt=CAPTION, model=BASE, seconds=2, seed=7, adapter=adapter)
        return client.generate_audio(request).stems["0"]

    base, tuned, base_again = generate(""), generate(ADAPTER), generate("")
    assert tuned.shape == base.shape
    assert not np.array_equal(tuned, base)
    assert np.array_equal(base_again, base)  # the base model is untouched (and its result cached apart)
    out = tmp_path / "tuned.wav"
    done = dgx_music(
        stack, "generate", CAPTION, "--model", BASE, "--adapter", ADAPTER, "--seconds", "2", "--seed", "7",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert np.allclose(soundfile.read(out, dtype="float32")[0].reshape(tuned.shape), tuned, atol=1e-6)


def no_ardour() -> Ardour:
    raise DgxMusicError(grpc.StatusCode.UNAVAILABLE, "no Ardour in this test")


async def test_the_mcp_generate_audio_tool_takes_the_adapter(
    trained: dict[str, Any], client: MusicClient, stack: Stack, tmp_path: Path
) -> None:
    config = ToolConfig(
        out_dir=tmp_path,
        connect=lambda key: AsyncMusicClient(stack.gateway_target, timeout=120, api_key=key),
        ardour=no_ardour,
        import_plan=lambda held, folder: None,
    )
    arguments: dict[str, Any] = {"prompt": CAPTION, "model": BASE, "seconds": 2, "seed": 7}
    async with Client(create_app(config)) as mcp:
        tuned = await mcp.call_tool("generate_audio", {**arguments, "adapter": ADAPTER})
        unknown = await mcp.call_tool("generate_audio", {**arguments, "adapter": "no-such"})
    assert not tuned.is_error, tuned.content
    assert tuned.structured_content is not None
    written = soundfile.read(tuned.structured_content["mix"], dtype="float32")[0]
    request = pb.GenerateAudioRequest(prompt=CAPTION, model=BASE, seconds=2, seed=7, adapter=ADAPTER)
    expected = client.generate_audio(request).stems["0"]
    assert np.allclose(written.reshape(expected.shape), expected, atol=1e-6)
    assert unknown.is_error
    assert unknown.structured_content is not None
    assert unknown.structured_content["code"] == "NOT_FOUND"


def test_compose_generates_with_the_adapter(trained: dict[str, Any], client: MusicClient) -> None:
    request = compose_request(GENRE, options=song_options(seconds=2, seed=3), stems=False)
    request.musicgen, request.adapter = BASE, ADAPTER
    tuned = client.compose(request).stems["musicgen"]
    request.adapter = ""
    assert not np.array_equal(client.compose(request).stems["musicgen"], tuned)


def test_unknown_and_mismatched_adapters_are_refused(trained: dict[str, Any], client: MusicClient) -> None:
    with pytest.raises(DgxMusicError) as unknown:
        client.generate_audio(pb.GenerateAudioRequest(prompt="x", model=BASE, seconds=1, adapter="no-such"))
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND
    assert "no-such" in unknown.value.message
    # Trained on 'debug': the server's default model is another.
    with pytest.raises(DgxMusicError) as other_base:
        client.generate_audio(pb.GenerateAudioRequest(prompt="x", seconds=1, adapter=ADAPTER))
    assert other_base.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in other_base.value.violations] == ["adapter"]
    with pytest.raises(DgxMusicError) as bad_name:
        client.generate_audio(pb.GenerateAudioRequest(prompt="x", seconds=1, adapter="Not A Slug"))
    assert bad_name.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in bad_name.value.violations] == ["adapter"]


async def test_another_owners_adapter_is_unknown_to_a_caller(trained: dict[str, Any], stack: Stack) -> None:
    """The musicgen model serves an adapter to the owner who trained it (the gateway tags each call with its caller's
    key): asked with another owner's tag, it knows none, and names none."""
    models = TritonModels(f"127.0.0.1:{stack.settings.triton_grpc_port}", grpc_key_headers(stack.settings))
    generating = models.generate_audio(
        ["x"], 1.0, {"seed": 1}, None, deadline=30, request_id="t", model=BASE, adapter=ADAPTER, owner="other"
    )
    try:
        with pytest.raises(ApiError) as refused:
            [_ async for _ in generating]
    finally:
        await models.close()
    assert refused.value.code == grpc.StatusCode.NOT_FOUND
    assert "adapters: none" in refused.value.message


def test_an_empty_folder_is_refused(stack: Stack, tmp_path: Path) -> None:
    done = dgx_music(stack, "train", "--name", "empty", "--data", str(tmp_path))
    assert done.returncode == 2
    assert "no audio files" in done.stderr
    with grpc.insecure_channel(stack.gateway_target) as channel:
        request = jobs_pb2.SubmitJobRequest(request=jobs_pb2.JobRequest(train=quick_training("empty")))
        with pytest.raises(grpc.RpcError) as refused:
            JobServiceStub(channel).SubmitJob(iter([request]), timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "data" in str(refused.value.details())


def failed_training(client: MusicClient, tmp_path: Path, samples: Any, name: str) -> jobs_pb2.Job:
    soundfile.write(tmp_path / name, samples, 32000)
    job = client.submit_training(quick_training("bad-data"), [tmp_path / name])
    return client.watch_job(job.id).job


def test_silent_and_too_short_files_fail_the_job_naming_the_file(
    trained: dict[str, Any], client: MusicClient, tmp_path: Path
) -> None:
    silent = failed_training(client, tmp_path, np.zeros(32000 * 3, np.float32), "silence.wav")
    assert silent.state == jobs_pb2.JOB_STATE_FAILED
    assert silent.error_code == "INVALID_ARGUMENT"
    assert "silence.wav" in silent.error_message
    assert "silent" in silent.error_message
    short = failed_training(client, tmp_path, np.full(3200, 0.5, np.float32), "blip.wav")
    assert short.error_code == "INVALID_ARGUMENT"
    assert "blip.wav" in short.error_message


def test_a_melody_model_is_refused(trained: dict[str, Any], client: MusicClient, lofi_songs: Path) -> None:
    request = quick_training("melodic")
    request.model = ""  # the stack's default, debug-melody
    job = client.watch_job(client.submit_training(request, sorted(lofi_songs.glob("*.wav"))[:2]).id).job
    assert job.error_code == "INVALID_ARGUMENT"
    assert job.error_message.startswith("model: ")
    assert "melody" in job.error_message


def test_vocals_are_dropped_by_the_stacks_demucs_first(
    trained: dict[str, Any], client: MusicClient, lofi_songs: Path
) -> None:
    files = sorted(lofi_songs.glob("*.wav"))[:2]  # one to train on, one held back
    job = client.submit_training(quick_training("no-vocals", steps=2, drop_vocals=True), files)
    outcome = client.watch_job(job.id)
    assert outcome.job.state == jobs_pb2.JOB_STATE_SUCCEEDED, outcome.job.error_message
    assert isinstance(outcome.result, TrainResult)
    assert json.loads(outcome.result.adapter.recipe_json)["hyper_parameters"]["drop_vocals"] is True


def test_a_cancelled_training_leaves_no_adapter(
    trained: dict[str, Any], client: MusicClient, lofi_songs: Path, stack: Stack
) -> None:
    files = sorted(lofi_songs.glob("*.wav"))
    job = client.submit_training(quick_training("cancelled", steps=100_000), files)
    deadline = time.monotonic() + 60
    while client.get_job(job.id).progress.stage != pb.STAGE_TRAINING:
        assert time.monotonic() < deadline, client.get_job(job.id)
        time.sleep(0.2)
    progress = client.get_job(job.id).progress
    assert progress.total == 100_000
    assert progress.loss > 0
    assert client.cancel_job(job.id).state == jobs_pb2.JOB_STATE_CANCELLED
    # The model stopped training: the next training runs at once, and the cancelled one never saved.
    started = time.monotonic()
    after = client.watch_job(client.submit_training(quick_training("after-cancel", steps=2), files).id).job
    assert after.state == jobs_pb2.JOB_STATE_SUCCEEDED, after.error_message
    assert time.monotonic() - started < 30
    assert not (stack.settings.adapter_dir / "cancelled").exists()
    assert "cancelled" not in [adapter.name for adapter in client.models_and_adapters().adapters]
