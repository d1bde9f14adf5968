"""Transcription (Basic Pitch) and separation (demucs) through the real stack, alone and chained by Compose."""

import io
from pathlib import Path

import grpc
import mido
import numpy as np
import numpy.typing as npt
import pretty_midi
import pytest
import soundfile
from mir_eval.transcription import precision_recall_f1_overlap

from clients.client import AudioInput, MusicClient, compose_request, song_options, upload_requests
from clients.errors import DgxMusicError
from conftest import stack_settings
from deploy.launcher import Stack
from dgxmusic.audio import FloatAudio
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.music_service_pb2_grpc import MusicServiceStub

SECONDS = 6.0


def onset_f1(reference_midi: bytes, track: str, transcription: pb.Transcription) -> float:
    song = pretty_midi.PrettyMIDI(io.BytesIO(reference_midi))
    notes = next(i for i in song.instruments if i.name == track).notes
    ref_intervals = np.array([[n.start, n.end] for n in notes])
    ref_pitches = np.array([pretty_midi.note_number_to_hz(n.pitch) for n in notes])
    est = transcription.notes
    est_intervals = np.array([[n.start_seconds, n.end_seconds] for n in est]).reshape(-1, 2)
    est_pitches = np.array([pretty_midi.note_number_to_hz(n.pitch) for n in est])
    _, _, f1, _ = precision_recall_f1_overlap(
        ref_intervals, ref_pitches, est_intervals, est_pitches, onset_tolerance=0.05, offset_ratio=None
    )
    return float(f1)


@pytest.fixture(scope="module")
def chained(client: MusicClient) -> object:
    request = compose_request("upbeat pop in E minor", options=song_options(bars=8, seed=2))
    request.transcribe = True
    request.separate = "demucs"
    progress: list[pb.Progress] = []
    return client.compose(request, on_progress=progress.append), progress


def test_compose_chains_render_separate_and_transcribe(chained: tuple) -> None:  # type: ignore[type-arg]
    result, progress = chained
    drums = {t.name for t in result.info.tracks if t.is_drum}
    pitched = {t.name for t in result.info.tracks if not t.is_drum}
    assert set(result.transcriptions) == pitched, "every pitched stem, never the drums"
    assert not drums & set(result.transcriptions)
    separated = {name for name in result.stems if name.startswith("demucs/")}
    assert separated == {"demucs/drums", "demucs/bass", "demucs/other", "demucs/vocals"}
    for name in separated:
        assert result.stems[name].shape == result.mix.shape
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert {pb.STAGE_SEPARATING, pb.STAGE_TRANSCRIBING} <= {p.stage for p in progress}


def test_compose_without_stems_still_transcribes_each_pitched_track_alone(client: MusicClient) -> None:
    request = compose_request("boom bap 90 with jazz piano", options=song_options(bars=2, seed=4), stems=False)
    request.transcribe = True
    result = client.compose(request)
    assert set(result.stems) == set(), "stems off: only the mix is streamed"
    assert set(result.transcriptions) == {t.name for t in result.info.tracks if not t.is_drum}


def test_transcriptions_match_the_composed_midi(chained: tuple) -> None:  # type: ignore[type-arg]
    result, _ = chained
    lead = onset_f1(result.midi, "Lead", result.transcriptions["Lead"])
    chords = onset_f1(result.midi, "Chords", result.transcriptions["Chords"])
    assert lead >= 0.80, (lead, chords)
    assert chords >= 0.70, (lead, chords)


def test_transcribe_a_file_at_another_rate(client: MusicClient, tmp_path: Path) -> None:
    song = client.compose(compose_request("lofi hip hop with rhodes at 85", options=song_options(bars=2)))
    lead = song.stems["Lead"]
    path = tmp_path / "lead.flac"
    soundfile.write(path, lead[::1].mean(axis=1), song.sample_rate, subtype="PCM_24")
    progress: list[pb.Progress] = []
    result = client.transcribe(path, pb.TranscriptionOptions(onset_threshold=0.5), on_progress=progress.append)
    parsed = mido.MidiFile(file=io.BytesIO(result.transcription.midi))
    assert sum(m.type == "note_on" for t in parsed.tracks for m in t) > 0
    assert len(result.transcription.notes) > 0
    assert [p.fraction for p in progress][-1] == 1.0


def test_separate_uploaded_audio(client: MusicClient) -> None:
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((int(SECONDS * 48000), 2))).astype(np.float32)
    progress: list[pb.Progress] = []
    result = client.separate((audio, 48000), on_progress=progress.append)
    assert set(result.stems) == {"drums", "bass", "other", "vocals"}
    assert result.sample_rate == 44100
    for stem in result.stems.values():
        assert stem.shape == (round(SECONDS * 44100), 2)
        assert np.isfinite(stem).all()
    assert any(p.stage == pb.STAGE_SEPARATING for p in progress)


def test_a_5_1_file_is_transcribed_and_separated_from_its_stereo_downmix(client: MusicClient, tmp_path: Path) -> None:
    song = client.compose(compose_request("lofi hip hop with rhodes at 85", options=song_options(bars=2)))
    lead = song.stems["Lead"].mean(axis=1)
    surround = np.zeros((len(lead), 6), dtype=np.float32)
    surround[:, 2] = lead  # the centre channel: what a 5.1 mix puts its lead in
    path = tmp_path / "surround.wav"
    soundfile.write(path, surround, song.sample_rate, subtype="FLOAT")
    from_surround = client.transcribe(path).transcription
    g = 1 / np.sqrt(2)  # the centre at -3 dB to each side, each side scaled by its front, centre and surround gains
    from_mono = client.transcribe((lead * np.float32(g / (1 + 2 * g)), song.sample_rate)).transcription
    assert len(from_surround.notes) > 0
    assert [n.pitch for n in from_surround.notes] == [n.pitch for n in from_mono.notes]
    separated = client.separate(path)
    assert set(separated.stems) == {"drums", "bass", "other", "vocals"}
    assert all(stem.shape == (len(lead), 2) for stem in separated.stems.values())


def test_list_models(client: MusicClient) -> None:
    # The Triton models; the separation and MusicGen models they serve are listed under them (served_by), as
    # tests/test_stack_model_choice.py checks.
    models = [m for m in client.list_models() if not m.served_by]
    assert all(m.memory_bytes > 10 * 2**20 for m in models), "each stub's resident memory is reported"
    states = {m.name: m.state for m in models}
    assert states == dict.fromkeys(
        ("text2midi", "fluidsynth", "basic_pitch", "demucs", "musicgen", "musicgen_train"), pb.MODEL_STATE_READY
    )


def pcm(samples: npt.NDArray[np.float64], rate: int = 22050) -> tuple[FloatAudio, int]:
    return samples.astype(np.float32), rate


BAD_AUDIO: dict[str, tuple[AudioInput, grpc.StatusCode, str]] = {
    "NaN": (pcm(np.full((22050, 1), np.nan)), grpc.StatusCode.INVALID_ARGUMENT, "audio"),
    "silence": (pcm(np.zeros((22050, 2))), grpc.StatusCode.INVALID_ARGUMENT, "audio"),
    "a text file": (Path(__file__), grpc.StatusCode.INVALID_ARGUMENT, "audio"),
}


@pytest.mark.parametrize("case", BAD_AUDIO)
def test_bad_audio_gets_clean_errors(client: MusicClient, tmp_path: Path, case: str) -> None:
    source, code, field = BAD_AUDIO[case]
    if isinstance(source, Path):
        source = tmp_path / "notes.wav"
        source.write_bytes(b"these are not samples" * 100)
    for call in (client.transcribe, client.separate):
        with pytest.raises(DgxMusicError) as caught:
            call(source)
        assert caught.value.code == code, (call, caught.value)
        assert [v.field for v in caught.value.violations] == [field]
    assert client.health() == "SERVING"


@pytest.mark.parametrize(
    ("rpc", "request_type", "options", "field"),
    [
        ("Transcribe", pb.TranscribeRequest, pb.TranscriptionOptions(onset_threshold=2), "transcription_options."),
        # A name that is no model's (which names the demucs model knows it says once the audio is there).
        ("Separate", pb.SeparateRequest, pb.SeparationOptions(model="spleeter 2!"), "options.model"),
        ("Separate", pb.SeparateRequest, pb.SeparationOptions(shifts=99), "options.shifts"),
    ],
)
def test_bad_options_fail_before_the_upload_is_sent(
    stack: Stack, rpc: str, request_type: type, options: object, field: str
) -> None:
    sent = []

    def upload() -> object:
        for message in upload_requests(request_type, options, pcm(np.full((60 * 44100, 2), 0.1))):
            sent.append(message)
            yield message

    with grpc.insecure_channel(stack.gateway_target) as channel, pytest.raises(grpc.RpcError) as caught:
        list(getattr(MusicServiceStub(channel), rpc)(upload(), timeout=60))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in str(caught.value.details())
    assert len(sent) < 10, f"{len(sent)} of 23 messages were sent before the options were refused"


def test_malformed_streams(stack: Stack, client: MusicClient) -> None:
    with grpc.insecure_channel(stack.gateway_target) as channel:
        stub = MusicServiceStub(channel)
        chunk_first = [pb.TranscribeRequest(audio_chunk=audio_pb2.AudioChunk(data=b"\0" * 8, last=True))]
        too_big = [pb.TranscribeRequest(audio_header=audio_pb2.AudioHeader(total_bytes=1 << 40))]
        cut_short = list(upload_requests(pb.TranscribeRequest, pb.TranscriptionOptions(), pcm(np.ones((44100, 1)))))
        for requests, code, field in (
            (chunk_first, grpc.StatusCode.INVALID_ARGUMENT, "audio_chunk"),
            (too_big, grpc.StatusCode.RESOURCE_EXHAUSTED, "audio"),
            (cut_short[:-1], grpc.StatusCode.INVALID_ARGUMENT, "audio"),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                list(stub.Transcribe(iter(requests), timeout=30))
            assert caught.value.code() == code, field
    assert client.health() == "SERVING"


def test_missing_weights_are_named(tmp_path: Path) -> None:
    settings = stack_settings(
        tmp_path,
        models=["demucs", "musicgen"],
        weights_dir=tmp_path / "weights",
        demucs_model="htdemucs_6s",
        musicgen_model="musicgen-small",
    )
    with Stack(settings) as bare, MusicClient(bare.gateway_target, timeout=60) as client:
        states = {m.name: m for m in client.list_models()}
        with pytest.raises(DgxMusicError) as separating:
            client.separate(pcm(np.ones((22050, 2)) * 0.1))
        with pytest.raises(DgxMusicError) as generating:
            client.generate_audio(pb.GenerateAudioRequest(prompt="trap drop", seconds=2))
    assert states["demucs"].state == states["musicgen"].state == pb.MODEL_STATE_WEIGHTS_MISSING
    assert states["text2midi"].state == pb.MODEL_STATE_UNAVAILABLE, "in the repository, not loaded"
    assert separating.value.code == generating.value.code == grpc.StatusCode.FAILED_PRECONDITION
    message = separating.value.message
    assert "htdemucs_6s.yaml" in message
    assert "dgx-music models pull htdemucs_6s" in message
    assert str(tmp_path / "weights") in message
    message = generating.value.message
    assert "t5-base" in message
    assert "encodec_32khz" in message
    assert "dgx-music models pull musicgen-small" in message
