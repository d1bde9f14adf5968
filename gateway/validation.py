"""The checks of each RPC's request: the proto request in, the checked values the call runs on out. Every fault of a
request is reported at once, as one ApiError with a field violation each. Checks that need a model stay the model's
(the composer's reading of a prompt, FluidSynth's of a MIDI file); their errors name the field too."""

import dataclasses
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

import composer
import renderers
import transcriber
from deploy.settings import Settings
from dgxmusic import audio
from dgxmusic.audio import FloatAudio, ResolvedFormat
from dgxmusic.catalog import ADAPTER_NAME
from dgxmusic.models import DEMUCS, MUSICGEN, Demucs, Musicgen
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.errors import ApiError, invalid_argument, request_errors, too_large
from gateway.soundfont_uploads import mark_used
from gateway.triton import DemucsOptions
from renderers.instruments import instrument_set_named

MAX_VARIATIONS = 16
MAX_SONGS_PER_CALL = 32
MAX_PROMPTS_PER_GENERATION = 8
MAX_INSTRUMENT_CHOICES = 64
DEFAULT_GENERATE_SECONDS = 8.0
SAMPLING_FIELDS = ("temperature", "top_k", "top_p", "cfg_coef", "seed")
TRANSCRIPTION_FIELDS = (
    "onset_threshold",
    "frame_threshold",
    "minimum_note_length_ms",
    "minimum_frequency",
    "maximum_frequency",
    "pitch_bends",
    "multiple_pitch_bends",
    "melodia_trick",
    "midi_tempo",
)
MIXING_FIELDS = ("gain_db", "reverb_level", "reverb_room_size", "chorus_level", "loudness_lufs", "peak_ceiling_dbfs")
# The song's fields in the groups the composer checks together (bars and seconds exclude each other), each checked
# beside a song whose other fields are valid.
_SONG_FIELD_GROUPS = (
    ("prompt",),
    ("bpm",),
    ("key",),
    ("bars", "seconds"),
    ("bars",),
    ("seconds",),
    ("time_signature",),
    ("seed",),
)
_VALID_SONG = composer.SongRequest(prompt="song")
_MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SOUNDFONT_NAME = re.compile(r"[A-Za-z0-9 _.+-]{0,128}")


class Faults:
    """The faults found in one request, raised together by `raise_any`."""

    def __init__(self) -> None:
        self.errors: list[ApiError] = []

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Keeps a fault of the request's fields raised inside for later, and goes on with the next check; what the
        block assigns is there once raise_any() has passed."""
        try:
            yield
        except ApiError as error:
            if not error.violations:  # not a fault of a field: nothing more to check
                raise
            self.add(error)

    def add(self, error: ApiError) -> None:
        # A fault of options every song shares is found once per song, and reported once.
        if not any(error.violations == seen.violations for seen in self.errors):
            self.errors.append(error)

    def raise_any(self) -> None:
        """RESOURCE_EXHAUSTED when every fault is over a size limit, else INVALID_ARGUMENT; the message is the first
        fault's and says how many more there are."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            violations = [violation for error in self.errors for violation in error.violations]
            over_limits = all(error.code == grpc.StatusCode.RESOURCE_EXHAUSTED for error in self.errors)
            code = grpc.StatusCode.RESOURCE_EXHAUSTED if over_limits else grpc.StatusCode.INVALID_ARGUMENT
            message = f"{self.errors[0].message} (and {len(violations) - 1} more)"
            raise ApiError(code, message, violations=violations)


# -- the checked calls ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Song:
    request: composer.SongRequest
    prompt_field: str  # the API field its prompt came in: "prompt" or "more_prompts[i]"


@dataclass(frozen=True)
class ComposeCall:
    song: composer.SongRequest
    audio_format: ResolvedFormat
    soundfont: str
    stems: bool
    separate: bool
    transcription: transcriber.TranscriptionParams | None  # None when no transcription is asked for
    musicgen: bool
    mixing: renderers.MixSettings = dataclasses.field(default_factory=renderers.MixSettings)
    instruments: renderers.InstrumentRequest | None = None
    separate_model: str = ""  # the demucs model `separate` names; "" for the server's
    musicgen_model: str = ""  # the MusicGen model `musicgen` names; "" for the server's
    adapter: str = ""  # the fine-tuned adapter `musicgen` generates with; "" for the base model

    @property
    def extras(self) -> list[str]:
        """What is asked for besides the song, in the order it is done."""
        wanted = {"separate": self.separate, "transcribe": self.transcription is not None, "musicgen": self.musicgen}
        return [name for name, asked in wanted.items() if asked]


@dataclass(frozen=True)
class RenderCall:
    midi: bytes
    soundfont: str
    audio_format: ResolvedFormat
    stems: bool
    mixing: renderers.MixSettings = dataclasses.field(default_factory=renderers.MixSettings)
    instruments: renderers.InstrumentRequest | None = None


@dataclass(frozen=True)
class GenerateAudioCall:
    prompts: list[str]
    seconds: float
    sampling: dict[str, float | int]  # the sampling fields the request set, by name
    audio_format: ResolvedFormat
    melody_audio: bytes  # empty when not given
    melody_midi: bytes  # empty when not given
    model: str = ""  # the MusicGen model; "" for the server's
    continue_audio: bytes = b""  # empty when not given
    adapter: str = ""  # the fine-tuned adapter; "" for the base model

    @property
    def seeded(self) -> bool:
        return "seed" in self.sampling


# -- one function per RPC ------------------------------------------------------------------------------------------


def generate_midi(request: pb.GenerateMidiRequest) -> list[Song]:
    """Every song a GenerateMidi call asks for: each prompt's variations in seed order."""
    faults = Faults()
    prompts = _prompts(request.prompt, request.more_prompts)
    variations = request.variations or 1
    if not 1 <= variations <= MAX_VARIATIONS:
        faults.add(invalid_argument("variations", f"must be 1-{MAX_VARIATIONS}, got {variations}"))
        variations = 1  # each prompt is still checked
    if len(prompts) * variations > MAX_SONGS_PER_CALL:
        reason = f"{len(prompts)} prompts x {variations} variations is over {MAX_SONGS_PER_CALL} songs per call"
        faults.add(too_large("more_prompts", reason))
    if variations > 1 and request.options.seed + variations - 1 > composer.MAX_SEED:
        reason = f"variations take seeds {request.options.seed}..., past the largest seed {composer.MAX_SEED}"
        faults.add(invalid_argument("variations", reason))
        variations = 1  # the seed past the largest is this fault, not another
    songs = []
    for field, prompt in prompts:
        with faults.collect():
            songs += [
                Song(song_request(prompt, request.options, seed_offset=offset, prompt_field=field), field)
                for offset in range(variations)
            ]
    faults.raise_any()
    return songs


def compose(request: pb.ComposeRequest, settings: Settings) -> ComposeCall:
    faults = Faults()
    with faults.collect():
        song = song_request(request.prompt, request.options)
    with faults.collect():
        audio_format = _audio_format(request.audio_format, settings.default_sample_rate)
    with faults.collect():
        soundfont = _soundfont(request.soundfont, settings)
    separate_model = musicgen_model = ""
    with faults.collect():
        separate_model = separation_model(request.separate, "separate")
    with faults.collect():
        musicgen_model = generation_model(request.musicgen, "musicgen")
    with faults.collect():
        adapter_name(request.adapter, "adapter")
    if request.adapter and not request.musicgen:
        faults.add(invalid_argument("adapter", "an adapter is for MusicGen: ask for musicgen too"))
    with faults.collect():
        transcription = transcription_params(request.transcription_options)
    with faults.collect():
        mixing = mix_settings(request.mixing)
    with faults.collect():
        instruments = instrument_request(request.instruments, request.instrument_set)
    faults.raise_any()
    return ComposeCall(
        song=song,
        audio_format=audio_format,
        soundfont=soundfont,
        stems=request.stems if request.HasField("stems") else True,
        separate=bool(request.separate),
        transcription=transcription if request.transcribe else None,
        musicgen=bool(request.musicgen),
        mixing=mixing,
        instruments=instruments,
        separate_model=separate_model,
        musicgen_model=musicgen_model,
        adapter=request.adapter,
    )


def render(request: pb.RenderRequest, settings: Settings) -> RenderCall:
    faults = Faults()
    with faults.collect():
        _check_midi(request.midi, "midi", settings)
    with faults.collect():
        audio_format = _audio_format(request.audio_format, settings.default_sample_rate)
    with faults.collect():
        soundfont = _soundfont(request.soundfont, settings)
    with faults.collect():
        mixing = mix_settings(request.mixing)
    with faults.collect():
        instruments = instrument_request(request.instruments, request.instrument_set)
    faults.raise_any()
    return RenderCall(request.midi, soundfont, audio_format, request.stems, mixing, instruments)


def generate_audio(request: pb.GenerateAudioRequest, settings: Settings) -> GenerateAudioCall:
    faults = Faults()
    prompts = _prompts(request.prompt, request.more_prompts)
    if len(prompts) > MAX_PROMPTS_PER_GENERATION:
        faults.add(too_large("more_prompts", f"at most {MAX_PROMPTS_PER_GENERATION} prompts per call"))
    for field, prompt in prompts:
        with faults.collect():
            _check_generation_prompt(prompt, field)
    model = ""
    with faults.collect():
        model = generation_model(request.model, "model")
    with faults.collect():
        adapter_name(request.adapter, "adapter")
    seconds = request.seconds or DEFAULT_GENERATE_SECONDS
    if not 0 < seconds <= settings.max_generate_seconds:
        reason = f"must be above 0 and at most {settings.max_generate_seconds:g} s, got {seconds:g}"
        faults.add((too_large if seconds > 0 else invalid_argument)("seconds", reason))
    with faults.collect():
        audio_format = _audio_format(request.audio_format, Musicgen.SAMPLE_RATE)
    if request.melody_audio and request.melody_midi:
        faults.add(invalid_argument("melody_midi", "give melody_audio or melody_midi, not both"))
    if request.melody_midi:
        with faults.collect():
            _check_midi(request.melody_midi, "melody_midi", settings)
    if request.continue_audio and (request.melody_audio or request.melody_midi):
        faults.add(invalid_argument("continue_audio", "continue audio or follow a melody, not both"))
    for name, (lowest, highest, lowest_allowed) in Musicgen.SAMPLING_BOUNDS.items():
        if request.HasField(name):
            with faults.collect():
                _check_bounds(name, getattr(request, name), lowest, highest, lowest_allowed=lowest_allowed)
    faults.raise_any()
    return GenerateAudioCall(
        prompts=[prompt for _, prompt in prompts],
        seconds=seconds,
        sampling={name: getattr(request, name) for name in SAMPLING_FIELDS if request.HasField(name)},
        audio_format=audio_format,
        melody_audio=request.melody_audio,
        melody_midi=request.melody_midi,
        model=model,
        continue_audio=request.continue_audio,
        adapter=request.adapter,
    )


@dataclass(frozen=True)
class TrainCall:
    name: str
    model: str  # the base MusicGen model; "" for the server's
    # generator.TrainingConfig's fields the call sets (the model's defaults for the rest).
    config: dict[str, Any]
    captions: dict[str, str]  # by file name


# TrainRequest's optional numbers, each TrainingConfig's field of its name: (lowest, highest, lowest allowed).
_TRAINING_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "steps": (1, 100_000, True),
    "rank": (1, 256, True),
    "learning_rate": (0.0, 0.1, False),
    "chunk_seconds": (1.0, 30.0, True),
    "seed": (0, 2**32 - 1, True),
}
MAX_CAPTION_CHARS = 2000


def train(request: pb.TrainRequest) -> TrainCall:
    faults = Faults()
    if not request.name:
        faults.add(invalid_argument("name", "name the adapter (e.g. my-boombap)"))
    else:
        with faults.collect():
            adapter_name(request.name, "name")
    model = ""
    with faults.collect():
        model = generation_model(request.model, "model")
    config: dict[str, Any] = {}
    for field, (lowest, highest, lowest_allowed) in _TRAINING_BOUNDS.items():
        if request.HasField(field):
            config[field] = getattr(request, field)
            with faults.collect():
                _check_bounds(field, config[field], lowest, highest, lowest_allowed=lowest_allowed)
    if request.drop_vocals:
        config["drop_vocals"] = True
    if request.genre.strip():
        config["genre_words"] = request.genre.split()
    for file, caption in request.captions.items():
        if len(caption) > MAX_CAPTION_CHARS:
            faults.add(too_large(f"captions[{file}]", f"at most {MAX_CAPTION_CHARS} characters"))
    faults.raise_any()
    return TrainCall(request.name, model, config, dict(request.captions))


def transcription_params(options: pb.TranscriptionOptions) -> transcriber.TranscriptionParams:
    """Transcribe's options (and Compose's transcription_options) as the transcriber's settings."""
    given = {name: getattr(options, name) for name in TRANSCRIPTION_FIELDS if options.HasField(name)}
    faults = Faults()
    for name, value in given.items():  # each alone, so that every fault is told
        with faults.collect(), request_errors(prefix="transcription_options."):
            transcriber.TranscriptionParams(**{name: value})
    faults.raise_any()
    with request_errors(prefix="transcription_options."):  # what holds between fields (the frequency range)
        return transcriber.TranscriptionParams(**given)


def instrument_request(
    choices: Sequence[pb.InstrumentChoice], instrument_set: str
) -> renderers.InstrumentRequest | None:
    """Render's and Compose's instruments as the renderer reads them; None for the SoundFont alone. Each fault names
    its field (instruments[i].track, instruments[i].instrument, instrument_set); whether an instrument is installed and
    a track is there, the fluidsynth model checks."""
    faults = Faults()
    if len(choices) > MAX_INSTRUMENT_CHOICES:
        faults.add(too_large("instruments", f"at most {MAX_INSTRUMENT_CHOICES} choices, got {len(choices)}"))
    for index, choice in enumerate(choices):
        with faults.collect(), request_errors():
            renderers.InstrumentChoice.parse_track(choice.track, f"instruments[{index}].track")
        with faults.collect(), request_errors():
            renderers.InstrumentChoice.parse_instrument(choice.instrument, f"instruments[{index}].instrument")
    with faults.collect(), request_errors():
        instrument_set_named(instrument_set)
    faults.raise_any()
    if not choices and not instrument_set:
        return None
    return renderers.InstrumentRequest(
        tuple(renderers.InstrumentChoice(choice.track, choice.instrument) for choice in choices), instrument_set or None
    )


def mix_settings(options: pb.MixingOptions) -> renderers.MixSettings:
    """Render's and Compose's mixing options as the renderer's settings; each fault names its "mixing.<field>"."""
    given = {name: getattr(options, name) for name in MIXING_FIELDS if options.HasField(name)}
    faults = Faults()
    for name, value in given.items():  # each alone, so that every fault is told
        with faults.collect(), request_errors(prefix="mixing."):
            renderers.MixSettings(**{name: value})
    faults.raise_any()
    return renderers.MixSettings(**given)


@dataclass(frozen=True)
class SeparateCall:
    audio_format: ResolvedFormat  # of the stems sent back
    demucs: DemucsOptions


def separation_format(options: pb.SeparationOptions, settings: Settings) -> ResolvedFormat:
    """Checks Separate's options; the format its stems are sent in."""
    return separate(options, settings).audio_format


def separate(options: pb.SeparationOptions, settings: Settings) -> SeparateCall:
    """Checks Separate's options, every fault at once; what needs the model (its stems for two_stems, its longest
    segment) the demucs model checks, naming the field too."""
    faults = Faults()
    model = ""
    with faults.collect():
        model = separation_model(options.model, "options.model")
    with faults.collect():
        audio_format = _audio_format(options.audio_format, settings.default_sample_rate, "options.audio_format")
    if options.two_stems and not _MODEL_NAME.fullmatch(options.two_stems):
        faults.add(invalid_argument("options.two_stems", "a stem's name, e.g. vocals (letters, digits, '_.-')"))
    shifts = options.shifts if options.HasField("shifts") else None
    if shifts is not None and not 0 <= shifts <= Demucs.MAX_SHIFTS:
        faults.add(invalid_argument("options.shifts", f"must be 0-{Demucs.MAX_SHIFTS}, got {shifts}"))
    overlap = options.overlap if options.HasField("overlap") else None
    if overlap is not None and not 0 <= overlap <= Demucs.MAX_OVERLAP:
        faults.add(invalid_argument("options.overlap", f"must be 0-{Demucs.MAX_OVERLAP:g}, got {overlap:g}"))
    segment = options.segment if options.HasField("segment") else None
    if segment is not None and not (math.isfinite(segment) and segment >= Demucs.MIN_SEGMENT):
        reason = f"must be at least {Demucs.MIN_SEGMENT:g} s (and at most the model's own), got {segment:g}"
        faults.add(invalid_argument("options.segment", reason))
    faults.raise_any()
    return SeparateCall(audio_format, DemucsOptions(model, options.two_stems, shifts, overlap, segment))


def check_separation_length(samples: FloatAudio, sample_rate: int, settings: Settings) -> None:
    """What can only be told once Separate's audio is decoded."""
    seconds = samples.shape[0] / sample_rate
    if seconds > settings.max_audio_seconds:
        raise too_large("audio", f"{seconds:.0f} s is over the {settings.max_audio_seconds:g} s limit")


# -- the checks of one field ---------------------------------------------------------------------------------------


def song_request(
    prompt: str, options: pb.SongOptions, *, seed_offset: int = 0, prompt_field: str = "prompt"
) -> composer.SongRequest:
    """The proto request as the composer's request, every fault of its fields at once; what needs the prompt parsed
    (an unknown key, "900 bars" in the prompt) the text2midi model checks."""
    song = composer.SongRequest(
        prompt=prompt,
        bpm=options.bpm if options.HasField("bpm") else None,
        key=options.key if options.HasField("key") else None,
        bars=options.bars if options.HasField("bars") else None,
        seconds=options.seconds if options.HasField("seconds") else None,
        seed=options.seed + seed_offset,
        time_signature=options.time_signature if options.HasField("time_signature") else None,
    )
    try:
        composer.check_fields(song)  # the usual case, a valid request, in one pass
    except Exception:  # told below, every faulty field at once
        pass
    else:
        return song
    faults = Faults()
    for group in _SONG_FIELD_GROUPS:  # the composer stops at its first fault: each group is checked alone
        alone = dataclasses.replace(_VALID_SONG, **{name: getattr(song, name) for name in group})
        with faults.collect(), request_errors(prefix="options.", renames={"prompt": prompt_field}):
            composer.check_fields(alone)
    faults.raise_any()
    return song


def _prompts(prompt: str, more_prompts: Sequence[str]) -> list[tuple[str, str]]:
    """Each prompt with the API field it came in."""
    return [("prompt", prompt)] + [(f"more_prompts[{index}]", more) for index, more in enumerate(more_prompts)]


def _check_generation_prompt(prompt: str, field: str) -> None:
    if not prompt.strip():
        raise invalid_argument(field, "the prompt is empty; describe the music you want")
    if len(prompt) > composer.MAX_PROMPT_CHARS:
        raise too_large(field, f"{len(prompt)} characters is over {composer.MAX_PROMPT_CHARS}")


def _check_bounds(field: str, value: float, lowest: float, highest: float, *, lowest_allowed: bool) -> None:
    """A sampling parameter's bounds, told as the model tells them."""
    low_ok = value >= lowest if lowest_allowed else value > lowest
    if not (math.isfinite(value) and low_ok and value <= highest):
        low = f"{'at least' if lowest_allowed else 'over'} {lowest:g}"
        high = "" if math.isinf(highest) else f" and at most {highest:g}"
        raise invalid_argument(field, f"must be {low}{high}, got {value!r}")


def _audio_format(
    requested: audio_pb2.AudioFormat, default_sample_rate: int, field: str = "audio_format"
) -> ResolvedFormat:
    try:
        with request_errors():
            return audio.resolve_format(requested, default_sample_rate=default_sample_rate, field_prefix=field)
    except ApiError as first:
        # The rate is checked first: a rate out of range must not hide a wrong encoding or sample format.
        faults = Faults()
        faults.add(first)
        if first.field == f"{field}.sample_rate":
            with faults.collect(), request_errors():
                audio.resolve_format(
                    audio_pb2.AudioFormat(
                        sample_rate=48000, encoding=requested.encoding, sample_format=requested.sample_format
                    ),
                    default_sample_rate=default_sample_rate,
                    field_prefix=field,
                )
        faults.raise_any()
        raise


def _soundfont(name: str, settings: Settings) -> str:
    """A listed SoundFont's name (the model resolves it), or "sha256:<hex>" of an uploaded font the server holds."""
    if (digest := renderers.uploaded_digest(name)) is not None:
        if not mark_used(renderers.uploaded_path(settings.soundfont_upload_dir, digest)):
            reason = f"no uploaded SoundFont sha256:{digest} on this server: send it with UploadSoundFont first"
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"soundfont: {reason}", "soundfont")
        return f"{renderers.UPLOADED_PREFIX}{digest}"
    if not _SOUNDFONT_NAME.fullmatch(name):
        raise invalid_argument("soundfont", "a SoundFont name (letters, digits, ' _.+-', at most 128)")
    return name or settings.default_soundfont


# What a file sent as MIDI is, when it is audio instead.
_AUDIO_MAGIC = (
    (b"RIFF", "a RIFF/WAV file"),
    (b"fLaC", "a FLAC file"),
    (b"OggS", "an Ogg file"),
    (b"ID3", "an MP3 file"),
    (b"\xff\xfb", "an MP3 file"),
    (b"FORM", "an AIFF file"),
)


def _check_midi(midi: bytes, field: str, settings: Settings) -> None:
    """What can be told without parsing; the fluidsynth model parses the file and names what is wrong."""
    if not midi:
        raise invalid_argument(field, "empty: send a Standard MIDI File")
    if not midi.startswith(b"MThd"):
        kind = next((name for magic, name in _AUDIO_MAGIC if midi.startswith(magic)), None)
        said = f" (it is {kind}: audio goes to Transcribe or Separate)" if kind else ""
        raise invalid_argument(field, f"not a Standard MIDI File, which starts with MThd{said}")
    if len(midi) > settings.max_midi_bytes:
        raise too_large(field, f"{len(midi)} bytes is over the {settings.max_midi_bytes}-byte limit")


def separation_model(name: str, field: str) -> str:
    """The demucs model a call names, "" for the server's default (also named "demucs"); whether the server knows it
    and has its weights the demucs model says (INVALID_ARGUMENT listing the known ones, FAILED_PRECONDITION naming the
    files to fetch)."""
    if name in ("", DEMUCS):
        return ""
    if not _MODEL_NAME.fullmatch(name):
        raise invalid_argument(field, f"a demucs model's name, e.g. htdemucs_ft (letters, digits, '_.-'), got {name!r}")
    return name


def adapter_name(name: str, field: str) -> str:
    """A fine-tuned adapter's name as a call gives it ("" for none): a slug (dgxmusic.catalog.ADAPTER_NAME). The
    musicgen model tells names it has no adapter of."""
    if name and not ADAPTER_NAME.fullmatch(name):
        raise invalid_argument(field, f"an adapter's name: 1-64 of a-z, 0-9 and inner '-' (my-boombap), got {name!r}")
    return name


def generation_model(name: str, field: str) -> str:
    """The MusicGen model a call names, "" for the server's (also named "musicgen"); its Hugging Face name
    ("facebook/musicgen-small") is "musicgen-small". The musicgen model tells unknown names and missing weights."""
    name = name.removeprefix("facebook/")
    if name in ("", MUSICGEN):
        return ""
    if not _MODEL_NAME.fullmatch(name):
        raise invalid_argument(field, f"a MusicGen model's name, e.g. musicgen-melody, got {name!r}")
    return name
