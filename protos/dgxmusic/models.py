"""The gateway <-> model protocol: the Triton models' names, their tensors (names and Triton datatypes, as each
model's config.pbtxt declares them: a test holds the two in step), the limits both sides share, the deadline a
request carries, and the in-band error encoding. The gateway, the models' `model.py`, the planner and the tests read
it; nothing else writes these down."""

import json
import re
import time
from dataclasses import dataclass
from typing import ClassVar

from dgxmusic.errors import Cancelled, FieldError, MissingWeights, MusicError, TooLarge, Unavailable, UnknownModel


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str  # Triton's wire datatype: "FP32", "INT32", "INT64" or "BYTES"


class Model:
    """A Triton model of the repository: its name and, as class attributes, its tensors."""

    NAME: ClassVar[str]

    @classmethod
    def tensors(cls) -> dict[str, Tensor]:
        """Every tensor the model declares, by name."""
        return {value.name: value for value in vars(cls).values() if isinstance(value, Tensor)}


class Text2Midi(Model):
    """The composer: a prompt and its options (JSON of composer.SongRequest's overrides) -> MIDI and metadata."""

    NAME = "text2midi"
    PROMPT = Tensor("PROMPT", "BYTES")
    OPTIONS = Tensor("OPTIONS", "BYTES")
    MIDI = Tensor("MIDI", "BYTES")
    METADATA = Tensor("METADATA", "BYTES")


class Fluidsynth(Model):
    """MIDI -> the mix [1, frames, 2] and, when STEMS is asked for, one stem per track [1, tracks, frames, 2]."""

    NAME = "fluidsynth"
    MIDI = Tensor("MIDI", "BYTES")
    SOUNDFONT = Tensor("SOUNDFONT", "BYTES")
    SAMPLE_RATE = Tensor("SAMPLE_RATE", "INT32")
    # renderers.MixSettings as JSON (gain, reverb, chorus, loudness target, peak ceiling); empty for the defaults.
    MIXING = Tensor("MIXING", "BYTES")
    # renderers.InstrumentRequest as JSON (an instrument per track, an instrument set); empty for the SoundFont alone.
    INSTRUMENTS = Tensor("INSTRUMENTS", "BYTES")
    # LIST_INSTRUMENTS = 1 asks for INSTRUMENT_CATALOG (renderers.instruments' catalog JSON) instead of a render.
    LIST_INSTRUMENTS = Tensor("LIST_INSTRUMENTS", "INT32")
    INSTRUMENT_CATALOG = Tensor("INSTRUMENT_CATALOG", "BYTES")
    MIX = Tensor("MIX", "FP32")
    STEMS = Tensor("STEMS", "FP32")
    STEM_NAMES = Tensor("STEM_NAMES", "BYTES")


class BasicPitch(Model):
    """Windows of mono 22,050 Hz audio [n, 43844, 1] -> Basic Pitch's raw outputs per window."""

    NAME = "basic_pitch"
    WINDOWS = Tensor("WINDOWS", "FP32")
    NOTE = Tensor("NOTE", "FP32")
    ONSET = Tensor("ONSET", "FP32")
    CONTOUR = Tensor("CONTOUR", "FP32")
    # The windows the gateway sends in one request, longer audio going as several: the model's max_batch_size may
    # not be smaller (the planner refuses a plan that makes it so).
    MAX_WINDOWS_PER_REQUEST = 64
    # transcriber's name of each output tensor.
    OUTPUTS: ClassVar[dict[str, Tensor]] = {"note": NOTE, "onset": ONSET, "contour": CONTOUR}


class Demucs(Model):
    """Decoupled: audio [frames, channels] -> PROGRESS responses, then the stems [stems, frames, 2] by name."""

    NAME = "demucs"
    AUDIO = Tensor("AUDIO", "FP32")
    SAMPLE_RATE = Tensor("SAMPLE_RATE", "INT32")
    PROGRESS = Tensor("PROGRESS", "FP32")
    STEMS = Tensor("STEMS", "FP32")
    STEM_NAMES = Tensor("STEM_NAMES", "BYTES")
    STEMS_SAMPLE_RATE = Tensor("STEMS_SAMPLE_RATE", "INT32")
    # A call's choice of model and demucs' options; all optional.
    MODEL = Tensor("MODEL", "BYTES")
    TWO_STEMS = Tensor("TWO_STEMS", "BYTES")
    SHIFTS = Tensor("SHIFTS", "INT32")
    OVERLAP = Tensor("OVERLAP", "FP32")
    SEGMENT = Tensor("SEGMENT", "FP32")
    # LIST_MODELS = 1 asks for MODELS: every known model's state (dgxmusic.catalog).
    LIST_MODELS = Tensor("LIST_MODELS", "INT32")
    MODELS = Tensor("MODELS", "BYTES")
    # The options' limits, checked by the gateway and the separator alike. Each shift runs the whole separation once
    # more (demucs' CLI suggests up to 10); a larger overlap makes the chunks' stride vanish; a shorter segment is too
    # short for HTDemucs' STFT (the longest is the model's own).
    MAX_SHIFTS = 20
    MAX_OVERLAP = 0.9
    MIN_SEGMENT = 1.0


class Musicgen(Model):
    """Decoupled and batched (every tensor has the request's row first): prompts and sampling parameters ->
    PROGRESS / TOKENS_DONE / TOKENS_TOTAL responses, then one clip per prompt."""

    NAME = "musicgen"
    PROMPT = Tensor("PROMPT", "BYTES")
    DURATION = Tensor("DURATION", "FP32")
    TEMPERATURE = Tensor("TEMPERATURE", "FP32")
    TOP_K = Tensor("TOP_K", "INT32")
    TOP_P = Tensor("TOP_P", "FP32")
    CFG_COEF = Tensor("CFG_COEF", "FP32")
    SEED = Tensor("SEED", "INT64")
    MELODY = Tensor("MELODY", "FP32")
    MELODY_SAMPLE_RATE = Tensor("MELODY_SAMPLE_RATE", "INT32")
    PROGRESS = Tensor("PROGRESS", "FP32")
    TOKENS_DONE = Tensor("TOKENS_DONE", "INT32")
    TOKENS_TOTAL = Tensor("TOKENS_TOTAL", "INT32")
    AUDIO = Tensor("AUDIO", "FP32")
    AUDIO_SAMPLE_RATE = Tensor("AUDIO_SAMPLE_RATE", "INT32")
    # The MusicGen model a call names (none: the default), and audio the generation continues.
    MODEL = Tensor("MODEL", "BYTES")
    CONTINUED_AUDIO = Tensor("CONTINUED_AUDIO", "FP32")
    CONTINUED_SAMPLE_RATE = Tensor("CONTINUED_SAMPLE_RATE", "INT32")
    # The fine-tuned adapter (a LoRA MusicgenTrain made) a call generates with; none or empty: the base model.
    ADAPTER = Tensor("ADAPTER", "BYTES")
    # Whose adapters the call may use (the gateway's owner tag of its caller): another owner's adapter is unknown.
    ADAPTER_OWNER = Tensor("ADAPTER_OWNER", "BYTES")
    # LIST_MODELS = 1 asks for MODELS: every known model's state (dgxmusic.catalog), and ADAPTERS, the adapters it
    # can apply (dgxmusic.catalog.encode_adapters).
    LIST_MODELS = Tensor("LIST_MODELS", "INT32")
    MODELS = Tensor("MODELS", "BYTES")
    ADAPTERS = Tensor("ADAPTERS", "BYTES")
    SAMPLE_RATE = 32000  # of every MusicGen model's output, and of a melody sent without its rate
    # The sampling parameters' tensors, by generator.GenerationParams field.
    SAMPLING: ClassVar[dict[str, Tensor]] = {
        "temperature": TEMPERATURE,
        "top_k": TOP_K,
        "top_p": TOP_P,
        "cfg_coef": CFG_COEF,
        "seed": SEED,
    }
    # The bounds of the sampling parameters whatever the model: (lowest, highest, lowest allowed). The gateway tells
    # them all at once before a call; the model holds them too, and top_k to its own codebook's size.
    SAMPLING_BOUNDS: ClassVar[dict[str, tuple[float, float, bool]]] = {
        "temperature": (0.0, 10.0, False),
        "top_k": (0, float("inf"), True),
        "top_p": (0.0, 1.0, True),
        "cfg_coef": (0.0, 30.0, True),
        "seed": (0, 2**63 - 1, True),
    }


class MusicgenTrain(Model):
    """Decoupled, one request at a time: audio clips and a training recipe -> STEP / STEPS / LOSS responses while it
    trains a LoRA adapter of a MusicGen model, then ADAPTER (the saved adapter, dgxmusic.catalog.AdapterEntry as
    JSON). The adapter is written where the musicgen model finds it (Settings.adapter_dir)."""

    NAME = "musicgen_train"
    # Every clip, one after another, [frames, channels] at Musicgen.SAMPLE_RATE; CLIP_FRAMES says where each ends.
    AUDIO = Tensor("AUDIO", "FP32")
    CLIP_FRAMES = Tensor("CLIP_FRAMES", "INT64")
    # Each clip's file name, and its caption ("" for one the model makes).
    CLIP_NAMES = Tensor("CLIP_NAMES", "BYTES")
    CAPTIONS = Tensor("CAPTIONS", "BYTES")
    # JSON: the adapter's "name", the base "model" ("" for the server's), and generator.TrainingConfig's fields the
    # call sets.
    RECIPE = Tensor("RECIPE", "BYTES")
    STEP = Tensor("STEP", "INT32")
    STEPS = Tensor("STEPS", "INT32")
    LOSS = Tensor("LOSS", "FP32")
    ADAPTER = Tensor("ADAPTER", "BYTES")


MODELS: tuple[type[Model], ...] = (Text2Midi, Fluidsynth, BasicPitch, Demucs, Musicgen, MusicgenTrain)
TEXT2MIDI, FLUIDSYNTH, BASIC_PITCH, DEMUCS, MUSICGEN, MUSICGEN_TRAIN = (model.NAME for model in MODELS)


# -- deadlines ---------------------------------------------------------------------------------------------------

# A request parameter the gateway sets: when (Unix time) the client stops waiting for the answer. Requests batched
# together run one after another, past Triton's queue timeout, so a model checks it before (and while) working.
DEADLINE_PARAMETER = "deadline_unix"


def deadline_parameters(seconds_left: float) -> dict[str, float]:
    """The request parameters of a request whose client waits `seconds_left` more seconds."""
    return {DEADLINE_PARAMETER: time.time() + seconds_left}


def deadline_of(request_parameters: str) -> float | None:
    """When (Unix time) the client of a request (its `parameters()` JSON) stops waiting; None when it did not say."""
    try:
        deadline = json.loads(request_parameters or "{}").get(DEADLINE_PARAMETER)
    except (ValueError, AttributeError):
        return None
    return float(deadline) if isinstance(deadline, int | float) and not isinstance(deadline, bool) else None


def past_deadline(request_parameters: str) -> bool:
    """Whether the client of a request (its `parameters()` JSON) has stopped waiting: its answer would be for nobody."""
    deadline = deadline_of(request_parameters)
    return deadline is not None and time.time() > deadline


# -- in-band errors ----------------------------------------------------------------------------------------------
#
# A model answers a request it cannot serve with an error response, never by failing the batch. The response's
# TritonError code carries the status where Triton 2.51's python backend has one (INVALID_ARG, NOT_FOUND,
# UNAVAILABLE, CANCELLED); the message carries what its codes cannot say (too large, missing weights), the request
# field at fault, and the kind again, since errors on a decoupled model's stream reach the client with no code:
#     "<kind>[ <field>]: <reason>"    e.g. "too_large midi: MIDI file lasts 700.0 s, ..."

# Kind -> the error it decodes to and the TritonError code it is sent with; most specific first.
_KINDS: dict[str, tuple[type[MusicError], str]] = {
    "too_large": (TooLarge, "INVALID_ARG"),
    "invalid_argument": (FieldError, "INVALID_ARG"),
    "missing_weights": (MissingWeights, "UNAVAILABLE"),
    "not_found": (UnknownModel, "NOT_FOUND"),
    "unavailable": (Unavailable, "UNAVAILABLE"),
    "cancelled": (Cancelled, "CANCELLED"),
}
_ENCODED = re.compile(
    r"(?:\[request id: [^\]]*\]\s*)?(?P<kind>[a-z_]+)(?: (?P<field>[a-z_][a-z_0-9.\[\]]*))?: (?P<reason>.*)", re.DOTALL
)


def _kind(error: MusicError) -> str | None:
    return next((kind for kind, (cls, _) in _KINDS.items() if isinstance(error, cls)), None)


def encode_error(error: MusicError) -> tuple[str, str] | None:
    """(message, TritonError code name) of an error a model answers in-band; None for an error of no known kind
    (a bug: see unexpected_error_message)."""
    kind = _kind(error)
    if kind is None:
        return None
    if isinstance(error, FieldError):
        return f"{kind} {error.field}: {error.reason}", _KINDS[kind][1]
    return f"{kind}: {error}", _KINDS[kind][1]


def decode_error(message: str) -> MusicError | None:
    """The error a model's in-band message encodes; None for a message that is not one (Triton's own errors)."""
    match = _ENCODED.match(message)
    if match is None or match["kind"] not in _KINDS:
        return None
    cls, _ = _KINDS[match["kind"]]
    field, reason = match["field"], match["reason"]
    if issubclass(cls, FieldError):
        return cls(field, reason) if field else None
    return None if field else cls(reason)


def unexpected_error_message(model: str, exc: BaseException) -> str:
    """What a client reads when a model fails in a way it does not handle (a bug): short, no field, no traceback;
    the model logs the traceback to Triton's log."""
    return f"{model} failed unexpectedly ({type(exc).__name__}: {exc}); the Triton log has the details"
