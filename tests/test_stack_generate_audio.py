"""MusicGen through the real stack, with audiocraft's tiny 'debug' model (no weights can be downloaded here)."""

import io
import threading

import grpc
import numpy as np
import pytest
import soundfile

from clients.client import MusicClient, compose_request, song_options
from clients.errors import DgxMusicError
from deploy.launcher import Stack
from dgxmusic.audio import FloatAudio
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.music_service_pb2_grpc import MusicServiceStub
from triton_statistics import settled_counts


def test_generate_audio_with_progress(client: MusicClient) -> None:
    progress: list[pb.Progress] = []
    result = client.generate_audio(
        pb.GenerateAudioRequest(prompt="heavy 808 bass drop trap beat 140 BPM", seconds=4, seed=1),
        on_progress=progress.append,
    )
    clip = result.stems["0"]
    assert result.sample_rate == 32000
    assert clip.shape[0] == 4 * 32000
    assert np.isfinite(clip).all()
    generating = [p for p in progress if p.stage == pb.STAGE_GENERATING]
    assert generating
    assert generating[-1].done == generating[-1].total > 0
    assert [p.done for p in generating] == sorted(p.done for p in generating)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    again = client.generate_audio(
        pb.GenerateAudioRequest(prompt="heavy 808 bass drop trap beat 140 BPM", seconds=4, seed=1)
    )
    assert again.summary.cache_hit
    assert np.array_equal(again.stems["0"], clip)


def test_long_form_past_the_window(client: MusicClient) -> None:
    result = client.generate_audio(pb.GenerateAudioRequest(prompt="ambient drone", seconds=45, seed=3))
    assert result.stems["0"].shape[0] == 45 * 32000


def test_several_prompts_and_concurrent_requests_are_batched(stack: Stack, client: MusicClient) -> None:
    two = client.generate_audio(pb.GenerateAudioRequest(prompt="house groove", more_prompts=["lofi keys"], seconds=2))
    assert set(two.stems) == {"0", "1"}
    assert not np.array_equal(two.stems["0"], two.stems["1"])

    before = settled_counts(stack, "musicgen")
    threads = [
        threading.Thread(target=client.generate_audio, args=(pb.GenerateAudioRequest(prompt=p, seconds=3),))
        for p in ("techno stab", "dnb break", "pop piano")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = settled_counts(stack, "musicgen")
    inferences, executions = (later - earlier for later, earlier in zip(after, before, strict=True))
    assert inferences == 3
    assert executions < inferences


def test_cancelled_generation_frees_the_model(stack: Stack, client: MusicClient) -> None:
    with grpc.insecure_channel(stack.gateway_target) as channel:
        call = MusicServiceStub(channel).GenerateAudio(
            pb.GenerateAudioRequest(prompt="endless jam", seconds=280, seed=5), timeout=120
        )
        for response in call:
            if response.progress.stage == pb.STAGE_GENERATING and response.progress.done > 0:
                break
        # The model is busy: the list does not wait for it, and says so.
        models = {model.name: model for model in client.list_models()}
        assert models["musicgen"].state == pb.MODEL_STATE_READY
        assert models["musicgen"].message.startswith("busy")
        call.cancel()
    result = client.generate_audio(pb.GenerateAudioRequest(prompt="short one", seconds=1, seed=6))
    assert result.stems["0"].shape[0] == 32000


def test_compose_then_musicgen_it(client: MusicClient) -> None:
    request = compose_request("lofi hip hop at 85", options=song_options(bars=2), stems=False)
    request.musicgen = "musicgen"
    result = client.compose(request)
    song_frames = round(result.info.duration_seconds * result.sample_rate)
    assert result.stems["musicgen"].shape[0] == song_frames, "as long as the song, at its sample rate"


def test_a_melody_from_audio_or_midi_changes_the_clip(client: MusicClient) -> None:
    song = client.compose(compose_request("pop 120 in C major", options=song_options(bars=2), stems=False))
    wav = io.BytesIO()
    soundfile.write(wav, song.mix, song.sample_rate, format="WAV", subtype="FLOAT")

    def clip(melody_audio: bytes = b"", melody_midi: bytes = b"") -> FloatAudio:
        request = pb.GenerateAudioRequest(
            prompt="synth pop", seconds=2, seed=4, bypass_cache=True, melody_audio=melody_audio, melody_midi=melody_midi
        )
        return client.generate_audio(request).stems["0"]

    plain, from_audio, from_midi = clip(), clip(melody_audio=wav.getvalue()), clip(melody_midi=song.midi)
    assert plain.shape == from_audio.shape == from_midi.shape == (2 * 32000, 1)
    assert not np.array_equal(plain, from_audio)
    assert not np.array_equal(plain, from_midi)


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (pb.GenerateAudioRequest(prompt=" "), grpc.StatusCode.INVALID_ARGUMENT, "prompt"),
        (pb.GenerateAudioRequest(prompt="x", seconds=-1), grpc.StatusCode.INVALID_ARGUMENT, "seconds"),
        (pb.GenerateAudioRequest(prompt="x", seconds=10_000), grpc.StatusCode.RESOURCE_EXHAUSTED, "seconds"),
        (
            pb.GenerateAudioRequest(prompt="x", more_prompts=["y"] * 8),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "more_prompts",
        ),
        (pb.GenerateAudioRequest(prompt="x", temperature=-1), grpc.StatusCode.INVALID_ARGUMENT, "temperature"),
        (pb.GenerateAudioRequest(prompt="x", top_p=2), grpc.StatusCode.INVALID_ARGUMENT, "top_p"),
        # A released model without weights: every model is served per call (tests/test_stack_model_choice.py).
        (pb.GenerateAudioRequest(prompt="x", model="musicgen-large"), grpc.StatusCode.FAILED_PRECONDITION, "model"),
        (
            pb.GenerateAudioRequest(prompt="x", melody_audio=b"not audio"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "melody_audio",
        ),
        (pb.GenerateAudioRequest(prompt="x", melody_midi=b"not midi"), grpc.StatusCode.INVALID_ARGUMENT, "melody_midi"),
        (
            pb.GenerateAudioRequest(prompt="x", model="facebook/musicgen-large"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "model",
        ),
        (pb.GenerateAudioRequest(prompt="x", model="riffusion"), grpc.StatusCode.INVALID_ARGUMENT, "model"),
    ],
)
def test_bad_generation_requests(
    client: MusicClient, request_: pb.GenerateAudioRequest, code: grpc.StatusCode, field: str
) -> None:
    with pytest.raises(DgxMusicError) as caught:
        client.generate_audio(request_)
    assert caught.value.code == code, caught.value
    assert [v.field for v in caught.value.violations] == [field]
    assert client.health() == "SERVING"
