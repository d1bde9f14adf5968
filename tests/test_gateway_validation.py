"""gateway.validation on its own: each RPC's checks, the fields they name, and every fault of a request reported at
once. No Triton, no Redis."""

from collections.abc import Callable

import grpc
import numpy as np
import pytest

from deploy.settings import Settings
from dgxmusic.v1 import audio_pb2, jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway import job_service, validation
from gateway.errors import ApiError, invalid_argument
from gateway.triton import DemucsOptions

SETTINGS = Settings()
INVALID = grpc.StatusCode.INVALID_ARGUMENT
TOO_LARGE = grpc.StatusCode.RESOURCE_EXHAUSTED
FLOAT_FLAC = audio_pb2.AudioFormat(
    encoding=audio_pb2.AUDIO_ENCODING_FLAC, sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32
)


def refusal(check: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        check()
    return caught.value


def fields(error: ApiError) -> list[str]:
    return [field for field, _ in error.violations]


# -- GenerateMidi ----------------------------------------------------------------------------------------------


def test_generate_midi_asks_for_each_prompts_variations_in_seed_order() -> None:
    request = pb.GenerateMidiRequest(
        prompt="house", more_prompts=["dubstep"], variations=2, options=pb.SongOptions(seed=5, bars=4)
    )
    songs = validation.generate_midi(request)
    assert [(s.request.prompt, s.request.seed, s.prompt_field) for s in songs] == [
        ("house", 5, "prompt"),
        ("house", 6, "prompt"),
        ("dubstep", 5, "more_prompts[0]"),
        ("dubstep", 6, "more_prompts[0]"),
    ]
    assert all(song.request.bars == 4 and song.request.bpm is None for song in songs)


GENERATE_MIDI_FAULTS = {
    "17 variations": (pb.GenerateMidiRequest(prompt="trap", variations=17), INVALID, "variations"),
    "seeds past the largest": (
        pb.GenerateMidiRequest(prompt="trap", variations=2, options=pb.SongOptions(seed=2**63 - 1)),
        INVALID,
        "variations",
    ),
    "34 songs": (
        pb.GenerateMidiRequest(prompt="trap", more_prompts=["house"] * 16, variations=2),
        TOO_LARGE,
        "more_prompts",
    ),
    "an empty second prompt": (
        pb.GenerateMidiRequest(prompt="trap", more_prompts=["house", " "]),
        INVALID,
        "more_prompts[1]",
    ),
    "a long second prompt": (
        pb.GenerateMidiRequest(prompt="trap", more_prompts=["x" * 2001]),
        TOO_LARGE,
        "more_prompts[0]",
    ),
    "bpm 0": (pb.GenerateMidiRequest(prompt="trap", options=pb.SongOptions(bpm=0)), INVALID, "options.bpm"),
}


@pytest.mark.parametrize("case", GENERATE_MIDI_FAULTS)
def test_a_generate_midi_fault_names_its_field(case: str) -> None:
    request, code, field = GENERATE_MIDI_FAULTS[case]
    error = refusal(lambda: validation.generate_midi(request))
    assert error.code == code
    assert fields(error) == [field]
    assert error.message.startswith(f"{field}: ")


def test_a_fault_of_the_options_every_song_shares_is_reported_once() -> None:
    request = pb.GenerateMidiRequest(prompt="trap", more_prompts=["house", "techno"], options=pb.SongOptions(bars=0))
    assert fields(refusal(lambda: validation.generate_midi(request))) == ["options.bars"]


def test_generate_midi_reports_every_fault_of_a_batch() -> None:
    request = pb.GenerateMidiRequest(prompt=" ", more_prompts=["house", "", "x" * 2001], variations=17)
    error = refusal(lambda: validation.generate_midi(request))
    assert fields(error) == ["variations", "prompt", "more_prompts[1]", "more_prompts[2]"]
    assert error.code == INVALID
    assert error.message == "variations: must be 1-16, got 17 (and 3 more)"


# -- Compose ---------------------------------------------------------------------------------------------------


def test_compose_fills_in_the_servers_defaults() -> None:
    call = validation.compose(pb.ComposeRequest(prompt="trap"), SETTINGS)
    assert call.song.prompt == "trap"
    assert call.song.seed == 0
    assert call.soundfont == SETTINGS.default_soundfont
    assert call.audio_format.sample_rate == SETTINGS.default_sample_rate
    assert call.audio_format.encoding == audio_pb2.AUDIO_ENCODING_PCM
    assert call.stems
    assert not call.separate
    assert not call.musicgen
    assert call.transcription is None
    assert call.extras == []


def test_compose_lists_the_extras_in_the_order_they_are_done() -> None:
    request = pb.ComposeRequest(
        prompt="trap",
        stems=False,
        musicgen="facebook/musicgen-small",
        transcribe=True,
        transcription_options=pb.TranscriptionOptions(onset_threshold=0.7),
        separate="htdemucs",
    )
    call = validation.compose(request, SETTINGS)
    assert call.extras == ["separate", "transcribe", "musicgen"]
    assert not call.stems
    assert call.transcription is not None
    assert call.transcription.onset_threshold == 0.7


COMPOSE_FAULTS = {
    "empty prompt": (pb.ComposeRequest(prompt="  "), INVALID, "prompt"),
    "long prompt": (pb.ComposeRequest(prompt="trap " * 20_000), TOO_LARGE, "prompt"),
    "bpm 10000": (pb.ComposeRequest(prompt="trap", options=pb.SongOptions(bpm=10_000)), INVALID, "options.bpm"),
    "900 bars": (pb.ComposeRequest(prompt="trap", options=pb.SongOptions(bars=900)), TOO_LARGE, "options.bars"),
    "bars and seconds": (
        pb.ComposeRequest(prompt="trap", options=pb.SongOptions(bars=4, seconds=8)),
        INVALID,
        "options.bars",
    ),
    "path as soundfont": (pb.ComposeRequest(prompt="trap", soundfont="../../etc/passwd"), INVALID, "soundfont"),
    "sample rate 1": (
        pb.ComposeRequest(prompt="trap", audio_format=audio_pb2.AudioFormat(sample_rate=1)),
        INVALID,
        "audio_format.sample_rate",
    ),
    "float FLAC": (pb.ComposeRequest(prompt="trap", audio_format=FLOAT_FLAC), INVALID, "audio_format.sample_format"),
    "no separator's name": (pb.ComposeRequest(prompt="trap", separate="spleeter 2!"), INVALID, "separate"),
    "no generator's name": (pb.ComposeRequest(prompt="trap", musicgen="musicgen large!"), INVALID, "musicgen"),
    "a threshold of 2": (
        pb.ComposeRequest(prompt="trap", transcription_options=pb.TranscriptionOptions(frame_threshold=2)),
        INVALID,
        "transcription_options.frame_threshold",
    ),
}


@pytest.mark.parametrize("case", COMPOSE_FAULTS)
def test_a_compose_fault_names_its_field(case: str) -> None:
    request, code, field = COMPOSE_FAULTS[case]
    error = refusal(lambda: validation.compose(request, SETTINGS))
    assert error.code == code
    assert fields(error) == [field]
    assert error.message.startswith(f"{field}: ")
    assert error.violations == [(field, error.message)]


def test_compose_reports_every_fault_of_a_request() -> None:
    request = pb.ComposeRequest(
        prompt="",
        soundfont="../x",
        audio_format=audio_pb2.AudioFormat(sample_rate=1),
        separate="spleeter 2!",
        musicgen="musicgen large!",
        transcription_options=pb.TranscriptionOptions(onset_threshold=-1),
    )
    error = refusal(lambda: validation.compose(request, SETTINGS))
    assert error.code == INVALID
    assert fields(error) == [
        "prompt",
        "audio_format.sample_rate",
        "soundfont",
        "separate",
        "musicgen",
        "transcription_options.onset_threshold",
    ]
    assert error.message == "prompt: the prompt is empty; describe the music you want (and 5 more)"


def test_a_size_limit_among_other_faults_is_invalid_argument() -> None:
    request = pb.ComposeRequest(prompt="trap " * 20_000, soundfont="../x")
    error = refusal(lambda: validation.compose(request, SETTINGS))
    assert error.code == INVALID
    assert fields(error) == ["prompt", "soundfont"]


# -- Render ----------------------------------------------------------------------------------------------------


def test_render_keeps_the_midi_and_fills_in_the_defaults() -> None:
    call = validation.render(pb.RenderRequest(midi=b"MThd...", stems=True, soundfont="TimGM6mb"), SETTINGS)
    assert call.midi == b"MThd..."
    assert call.stems
    assert call.soundfont == "TimGM6mb"
    assert call.audio_format.sample_rate == SETTINGS.default_sample_rate


RENDER_FAULTS = {
    "empty MIDI": (pb.RenderRequest(midi=b""), INVALID, "midi"),
    "a WAV file as MIDI": (pb.RenderRequest(midi=b"RIFF\x24\x00\x00\x00WAVEfmt "), INVALID, "midi"),
    "9 MiB of MIDI": (pb.RenderRequest(midi=b"MThd" * (SETTINGS.max_midi_bytes // 4 + 1)), TOO_LARGE, "midi"),
    "path as soundfont": (pb.RenderRequest(midi=b"MThd", soundfont="a/b"), INVALID, "soundfont"),
    "float FLAC": (pb.RenderRequest(midi=b"MThd", audio_format=FLOAT_FLAC), INVALID, "audio_format.sample_format"),
}


@pytest.mark.parametrize("case", RENDER_FAULTS)
def test_a_render_fault_names_its_field(case: str) -> None:
    request, code, field = RENDER_FAULTS[case]
    error = refusal(lambda: validation.render(request, SETTINGS))
    assert error.code == code
    assert fields(error) == [field]


def test_audio_sent_as_midi_is_called_what_it_is() -> None:
    error = refusal(lambda: validation.render(RENDER_FAULTS["a WAV file as MIDI"][0], SETTINGS))
    assert "not a Standard MIDI File" in error.message
    assert "RIFF/WAV" in error.message


def test_render_reports_every_fault_of_a_request() -> None:
    request = pb.RenderRequest(midi=b"", soundfont="a/b", audio_format=FLOAT_FLAC)
    error = refusal(lambda: validation.render(request, SETTINGS))
    assert fields(error) == ["midi", "audio_format.sample_format", "soundfont"]


# -- GenerateAudio ---------------------------------------------------------------------------------------------


def test_generate_audio_keeps_only_the_sampling_fields_the_request_set() -> None:
    call = validation.generate_audio(pb.GenerateAudioRequest(prompt="techno", more_prompts=["ambient"]), SETTINGS)
    assert call.prompts == ["techno", "ambient"]
    assert call.seconds == validation.DEFAULT_GENERATE_SECONDS
    assert call.sampling == {}
    assert not call.seeded
    assert call.audio_format.sample_rate == 32000  # MusicGen's own rate unless asked otherwise
    seeded = validation.generate_audio(pb.GenerateAudioRequest(prompt="techno", seed=3, top_k=50), SETTINGS)
    assert seeded.sampling == {"seed": 3, "top_k": 50}
    assert seeded.seeded


GENERATE_AUDIO_FAULTS = {
    "empty prompt": (pb.GenerateAudioRequest(prompt=" "), INVALID, "prompt"),
    "long second prompt": (
        pb.GenerateAudioRequest(prompt="x", more_prompts=["y" * 2001]),
        TOO_LARGE,
        "more_prompts[0]",
    ),
    "nine prompts": (pb.GenerateAudioRequest(prompt="x", more_prompts=["y"] * 8), TOO_LARGE, "more_prompts"),
    "negative seconds": (pb.GenerateAudioRequest(prompt="x", seconds=-1), INVALID, "seconds"),
    "10000 seconds": (pb.GenerateAudioRequest(prompt="x", seconds=10_000), TOO_LARGE, "seconds"),
    "a model name no model has": (pb.GenerateAudioRequest(prompt="x", model="musicgen large!"), INVALID, "model"),
    "continuing and following a melody": (
        pb.GenerateAudioRequest(prompt="x", melody_audio=b"a", continue_audio=b"b"),
        INVALID,
        "continue_audio",
    ),
    "two melodies": (
        pb.GenerateAudioRequest(prompt="x", melody_audio=b"a", melody_midi=b"MThd"),
        INVALID,
        "melody_midi",
    ),
    "9 MiB melody": (
        pb.GenerateAudioRequest(prompt="x", melody_midi=b"MThd" * (SETTINGS.max_midi_bytes // 4 + 1)),
        TOO_LARGE,
        "melody_midi",
    ),
    "sample rate 1": (
        pb.GenerateAudioRequest(prompt="x", audio_format=audio_pb2.AudioFormat(sample_rate=1)),
        INVALID,
        "audio_format.sample_rate",
    ),
}


@pytest.mark.parametrize("case", GENERATE_AUDIO_FAULTS)
def test_a_generate_audio_fault_names_its_field(case: str) -> None:
    request, code, field = GENERATE_AUDIO_FAULTS[case]
    error = refusal(lambda: validation.generate_audio(request, SETTINGS))
    assert error.code == code
    assert fields(error) == [field]


def test_faults_that_are_all_size_limits_are_resource_exhausted() -> None:
    request = pb.GenerateAudioRequest(prompt="x", more_prompts=["y"] * 8, seconds=10_000)
    error = refusal(lambda: validation.generate_audio(request, SETTINGS))
    assert error.code == TOO_LARGE
    assert fields(error) == ["more_prompts", "seconds"]
    assert error.message == "more_prompts: at most 8 prompts per call (and 1 more)"


def test_generate_audio_reports_every_fault_of_a_request() -> None:
    request = pb.GenerateAudioRequest(prompt="", more_prompts=[" "], model="musicgen large!", seconds=-2)
    error = refusal(lambda: validation.generate_audio(request, SETTINGS))
    assert error.code == INVALID
    assert fields(error) == ["prompt", "more_prompts[0]", "model", "seconds"]


# -- Transcribe and Separate -----------------------------------------------------------------------------------


def test_transcription_options_left_unset_take_basic_pitchs_defaults() -> None:
    params = validation.transcription_params(pb.TranscriptionOptions(minimum_frequency=100.0))
    assert params.minimum_frequency == 100.0
    assert params.onset_threshold == 0.5
    assert params.melodia_trick


def test_a_bad_transcription_option_names_its_field() -> None:
    error = refusal(lambda: validation.transcription_params(pb.TranscriptionOptions(minimum_note_length_ms=-1)))
    assert error.code == INVALID
    assert fields(error) == ["transcription_options.minimum_note_length_ms"]


def test_separation_options_give_the_format_of_the_stems() -> None:
    options = pb.SeparationOptions(model="demucs", audio_format=audio_pb2.AudioFormat(sample_rate=22050))
    assert validation.separation_format(options, SETTINGS).sample_rate == 22050
    assert validation.separation_format(pb.SeparationOptions(), SETTINGS).sample_rate == SETTINGS.default_sample_rate


def test_separate_reports_every_fault_of_its_options() -> None:
    options = pb.SeparationOptions(
        model="spleeter 2!",
        audio_format=FLOAT_FLAC,
        two_stems="vocals?",
        shifts=21,
        overlap=0.95,
        segment=0.5,
    )
    error = refusal(lambda: validation.separation_format(options, SETTINGS))
    assert fields(error) == [
        "options.model",
        "options.audio_format.sample_format",
        "options.two_stems",
        "options.shifts",
        "options.overlap",
        "options.segment",
    ]


def test_a_separation_model_and_demucs_options_are_passed_on_as_chosen() -> None:
    """Which models exist and have weights the demucs model tells (tests/test_stack_model_choice.py)."""
    chosen = pb.SeparationOptions(model="htdemucs_ft", two_stems="vocals", shifts=2, overlap=0.5, segment=4)
    call = validation.separate(chosen, SETTINGS)
    assert call.demucs == DemucsOptions("htdemucs_ft", "vocals", 2, 0.5, 4.0)
    assert validation.separate(pb.SeparationOptions(model="demucs"), SETTINGS).demucs == DemucsOptions()


def test_a_musicgen_model_is_passed_on_by_its_own_name() -> None:
    call = validation.generate_audio(pb.GenerateAudioRequest(prompt="x", model="facebook/musicgen-melody"), SETTINGS)
    assert call.model == "musicgen-melody"
    assert validation.generate_audio(pb.GenerateAudioRequest(prompt="x", model="musicgen"), SETTINGS).model == ""


def test_audio_longer_than_the_limit_is_not_separated() -> None:
    rate = 8000
    longest = np.zeros((int(SETTINGS.max_audio_seconds * rate), 2), dtype=np.float32)
    validation.check_separation_length(longest, rate, SETTINGS)
    error = refusal(
        lambda: validation.check_separation_length(
            np.zeros((longest.shape[0] + rate, 2), dtype=np.float32), rate, SETTINGS
        )
    )
    assert error.code == TOO_LARGE
    assert fields(error) == ["audio"]


# -- Faults ----------------------------------------------------------------------------------------------------


def test_an_error_that_names_no_field_is_raised_at_once() -> None:
    faults = validation.Faults()
    faults.add(invalid_argument("prompt", "empty"))
    with pytest.raises(ApiError) as caught, faults.collect():
        raise ApiError(grpc.StatusCode.UNAVAILABLE, "model text2midi is unavailable")
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_one_fault_is_raised_as_it_was_found() -> None:
    faults = validation.Faults()
    fault = invalid_argument("soundfont", "not a name")
    faults.add(fault)
    with pytest.raises(ApiError) as caught:
        faults.raise_any()
    assert caught.value is fault


def test_no_fault_raises_nothing() -> None:
    validation.Faults().raise_any()


# -- every fault at once, field by field -----------------------------------------------------------------------


def test_compose_reports_every_fault_of_its_song_options() -> None:
    options = pb.SongOptions(bpm=1, key="k" * 41, bars=0, time_signature="5/9", seed=-1)
    error = refusal(lambda: validation.compose(pb.ComposeRequest(prompt="house", options=options), SETTINGS))
    assert fields(error) == ["options.bpm", "options.key", "options.bars", "options.time_signature", "options.seed"]


def test_bars_and_seconds_together_are_one_fault_beside_the_others() -> None:
    options = pb.SongOptions(bars=4, seconds=10, bpm=1)
    error = refusal(lambda: validation.generate_midi(pb.GenerateMidiRequest(prompt="house", options=options)))
    assert error.violations[0][0] == "options.bpm"
    assert error.violations[1] == ("options.bars", "options.bars: give bars or seconds, not both")
    assert len(error.violations) == 2


def test_transcription_options_report_every_fault() -> None:
    options = pb.TranscriptionOptions(onset_threshold=2, frame_threshold=-1, midi_tempo=0, maximum_frequency=-5)
    error = refusal(lambda: validation.transcription_params(options))
    assert fields(error) == [
        "transcription_options.onset_threshold",
        "transcription_options.frame_threshold",
        "transcription_options.maximum_frequency",
        "transcription_options.midi_tempo",
    ]


def test_a_frequency_range_upside_down_is_told_once_each_bound_is_right() -> None:
    options = pb.TranscriptionOptions(minimum_frequency=500, maximum_frequency=100)
    error = refusal(lambda: validation.transcription_params(options))
    assert fields(error) == ["transcription_options.maximum_frequency"]
    assert "not above minimum_frequency" in error.message


def test_a_sample_rate_out_of_range_does_not_hide_a_wrong_sample_format() -> None:
    flac = audio_pb2.AudioFormat(
        sample_rate=1, encoding=audio_pb2.AUDIO_ENCODING_FLAC, sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32
    )
    error = refusal(lambda: validation.render(pb.RenderRequest(midi=b"MThd", audio_format=flac), SETTINGS))
    assert fields(error) == ["audio_format.sample_rate", "audio_format.sample_format"]


def test_an_opus_rate_it_cannot_take_is_told_once() -> None:
    opus = audio_pb2.AudioFormat(sample_rate=44100, encoding=audio_pb2.AUDIO_ENCODING_OPUS)
    error = refusal(lambda: validation.render(pb.RenderRequest(midi=b"MThd", audio_format=opus), SETTINGS))
    assert fields(error) == ["audio_format.sample_rate"]


def test_generate_audio_reports_every_sampling_fault_with_the_rest() -> None:
    request = pb.GenerateAudioRequest(prompt="techno", seconds=-2, temperature=0, top_k=-1, top_p=2, cfg_coef=31)
    error = refusal(lambda: validation.generate_audio(request, SETTINGS))
    assert fields(error) == ["seconds", "temperature", "top_k", "top_p", "cfg_coef"]
    assert ("temperature", "temperature: must be over 0 and at most 10, got 0.0") in error.violations


def test_a_negative_seed_is_refused_before_generation() -> None:
    error = refusal(lambda: validation.generate_audio(pb.GenerateAudioRequest(prompt="techno", seed=-1), SETTINGS))
    assert fields(error) == ["seed"]


def test_a_job_reports_every_fault_of_its_request_under_its_own_names() -> None:
    compose = pb.ComposeRequest(prompt=" ", options=pb.SongOptions(bpm=1), soundfont="../x")
    error = refusal(lambda: job_service.check_request(jobs_pb2.JobRequest(compose=compose), SETTINGS))
    assert fields(error) == ["request.compose.prompt", "request.compose.options.bpm", "request.compose.soundfont"]
    options = pb.TranscriptionOptions(onset_threshold=2, midi_tempo=0)
    error = refusal(lambda: job_service.check_request(jobs_pb2.JobRequest(transcribe=options), SETTINGS))
    assert fields(error) == ["request.transcribe.onset_threshold", "request.transcribe.midi_tempo"]
