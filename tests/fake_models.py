"""FakeModels: the gateway's models (gateway.triton.Models) in process, so that the gateway's validation,
sequencing, caching and error mapping run as unit tests, as httpx's MockTransport stands in for a server.

The composer, FluidSynth (with the Debian SoundFonts) and Basic Pitch run for real, as their Triton models run them;
demucs and MusicGen are small deterministic fakes with the shapes and rates of the real ones. A model's error travels
the real protocol: encoded in-band (dgxmusic.models) and read back by gateway.errors.from_triton, as the gateway
reads Triton's answer. A test can make a model's next call fail as Triton would fail it (UNAVAILABLE, a deadline),
say that a model is not ready, or that its weights are missing, or hold a model's requests until it lets them go."""

import asyncio
import collections
import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import fakeredis
import grpc
import numpy as np
import numpy.typing as npt
import soxr
from tritonclient.utils import InferenceServerException

import composer
import renderers
import transcriber
from deploy.settings import Settings
from dgxmusic import catalog
from dgxmusic.audio import FloatAudio
from dgxmusic.errors import FieldError, MissingWeights, MusicError, Unavailable
from dgxmusic.models import (
    BASIC_PITCH,
    DEMUCS,
    FLUIDSYNTH,
    MODELS,
    MUSICGEN,
    MUSICGEN_TRAIN,
    TEXT2MIDI,
    BasicPitch,
    Musicgen,
    encode_error,
    unexpected_error_message,
)
from gateway.errors import from_triton
from gateway.server import Gateway, build
from gateway.triton import (
    DEMUCS_DEFAULTS,
    DemucsOptions,
    Generated,
    ModelEntry,
    Rendered,
    Separated,
    TokenProgress,
    TrainingClips,
    TrainingStep,
    WeightsCheck,
    song_options,
)

# The gRPC status a client of Triton gets for each TritonError code a model answers with.
_STATUS_OF_TRITON_CODE = {
    "INVALID_ARG": grpc.StatusCode.INVALID_ARGUMENT,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "CANCELLED": grpc.StatusCode.CANCELLED,
    "INTERNAL": grpc.StatusCode.INTERNAL,
}

# What the fake demucs answers: htdemucs' four stems at its rate.
DEMUCS_STEMS = ("drums", "bass", "other", "vocals")
DEMUCS_SAMPLE_RATE = 44100
# MusicGen's tokens per second of audio (its EnCodec frame rate): what the token progress counts.
MUSICGEN_TOKENS_PER_SECOND = 50
# The separator's floor for audio worth separating (half a peak-to-peak swing) and its words for audio under it,
# as separator.Separator checks them.
_SILENCE_PEAK = 1e-5
_SILENT = "is silent (peak below -100 dBFS, leaving out any constant offset); there is nothing to separate"


def tone(frequency: float, seconds: float, sample_rate: int) -> FloatAudio:
    """A sine at half scale, [frames, 1] float32: what the fake MusicGen generates."""
    phase = 2 * np.pi * frequency * np.arange(round(seconds * sample_rate)) / sample_rate
    return np.asarray(0.5 * np.sin(phase), dtype=np.float32)[:, np.newaxis]


class FakeModels:
    """gateway.triton.Models in process. `calls` counts the requests each model was sent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        library = renderers.SoundFontLibrary(
            settings.soundfont_dirs, settings.default_soundfont, uploads=settings.soundfont_upload_dir
        )
        # What the fluidsynth model serves, as it serves it (plugins in worker processes, started when first used).
        self.studio = renderers.Studio(
            library,
            render_threads=settings.render_threads,
            plugin_workers=settings.plugin_workers,
            plugin_timeout_seconds=settings.plugin_render_timeout_seconds,
            max_render_seconds=settings.max_render_seconds,
            max_midi_bytes=settings.max_midi_bytes,
        )
        self.calls: collections.Counter[str] = collections.Counter()
        # Per model, Triton's state and its reason (READY; UNAVAILABLE "unloaded" or with why it failed to load).
        self.states: dict[str, tuple[str, str]] = {model.NAME: ("READY", "") for model in MODELS}
        self.missing_weights: dict[str, str] = {}  # model -> what it says is missing
        self._failures: dict[str, InferenceServerException] = {}
        self._paused: dict[str, asyncio.Event] = {}
        # The fluidsynth model renders one request at a time; renders run in threads here.
        self._render_lock = threading.Lock()

    def fail_next(self, model: str, code: grpc.StatusCode, message: str) -> None:
        """The next request to `model` fails as Triton fails it: with `code` and Triton's `message`."""
        self._failures[model] = InferenceServerException(message, status=str(code))

    def pause(self, model: str) -> asyncio.Event:
        """Requests to `model` wait (as on a busy Triton) until the event returned is set."""
        self._paused[model] = asyncio.Event()
        return self._paused[model]

    async def _wait_if_paused(self, model: str) -> None:
        if (paused := self._paused.get(model)) is not None:
            await paused.wait()

    @functools.cached_property
    def note_model(self) -> transcriber.NoteModel:
        return transcriber.NoteModel(threads=1)

    # -- the protocol --------------------------------------------------------------------------------------------

    async def close(self) -> None:
        self.studio.close()

    async def ready(self, models: list[str], deadline: float = 1.0) -> bool:
        return all(self.states[model][0] == "READY" for model in models)

    async def compose(
        self, song: composer.SongRequest, *, deadline: float, request_id: str
    ) -> tuple[bytes, dict[str, Any]]:
        await self._wait_if_paused(TEXT2MIDI)
        with self._inference(TEXT2MIDI, request_id):
            # What the text2midi model reads: the prompt, and the OPTIONS JSON the gateway sends.
            options = json.loads(json.dumps(song_options(song)))
            composed = await asyncio.to_thread(composer.compose, composer.SongRequest(prompt=song.prompt, **options))
        return composed.midi, json.loads(json.dumps(composed.metadata.to_dict()))

    async def render(
        self,
        midi: bytes,
        *,
        soundfont: str,
        sample_rate: int,
        stems: bool,
        deadline: float,
        request_id: str,
        mixing: renderers.MixSettings | None = None,
        instruments: str = "",
    ) -> Rendered:
        await self._wait_if_paused(FLUIDSYNTH)
        with self._inference(FLUIDSYNTH, request_id):
            rendered = await asyncio.to_thread(self._render, midi, soundfont, sample_rate, stems, mixing, instruments)
        return Rendered(rendered.mix, rendered.stems)

    async def instruments(self, *, deadline: float, request_id: str) -> dict[str, Any]:
        with self._inference(FLUIDSYNTH, request_id):
            catalog = await asyncio.to_thread(self.studio.catalog, rescan=True)
        answer: dict[str, Any] = json.loads(catalog.to_json())
        return answer

    async def note_activations(
        self, windows: npt.NDArray[np.float32], *, deadline: float, request_id: str
    ) -> dict[str, npt.NDArray[np.float32]]:
        with self._inference(BASIC_PITCH, request_id):
            outputs = await asyncio.to_thread(self.note_model.predict, windows)
        return {name: outputs[name] for name in BasicPitch.OUTPUTS}

    async def separate(
        self,
        audio: FloatAudio,
        sample_rate: int,
        *,
        deadline: float,
        request_id: str,
        options: DemucsOptions = DEMUCS_DEFAULTS,
    ) -> AsyncIterator[float | Separated]:
        """demucs' stream: progress, then its four stems at its rate, each a quarter of the audio (in stereo); the
        options are the real model's to honour (tests/test_stack_model_choice.py)."""
        with self._inference(DEMUCS, request_id, decoupled=True):
            self._check_weights(DEMUCS)
            channels = np.ascontiguousarray(audio.T)
            if (channels.max(axis=1) - channels.min(axis=1)).max() < 2 * _SILENCE_PEAK:
                raise FieldError("audio", _SILENT)
            yield 0.5
            stereo = np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio
            resampled = np.asarray(soxr.resample(stereo, sample_rate, DEMUCS_SAMPLE_RATE), dtype=np.float32)
            yield Separated(DEMUCS_SAMPLE_RATE, {name: resampled / len(DEMUCS_STEMS) for name in DEMUCS_STEMS})

    async def generate_audio(
        self,
        prompts: list[str],
        seconds: float,
        sampling: dict[str, float | int],
        melody: tuple[FloatAudio, int] | None,
        *,
        deadline: float,
        request_id: str,
        model: str = "",
        continued: tuple[FloatAudio, int] | None = None,
        adapter: str = "",
        owner: str = "",
    ) -> AsyncIterator[TokenProgress | Generated]:
        """MusicGen's stream: token progress, then one mono clip per prompt at 32 kHz (the n-th prompt's a tone of
        n x 220 Hz); the model and continuation are the real model's to honour (tests/test_stack_model_choice.py)."""
        with self._inference(MUSICGEN, request_id, decoupled=True):
            self._check_weights(MUSICGEN)
            total = max(1, round(seconds * MUSICGEN_TOKENS_PER_SECOND))
            for done in (total // 2, total):
                yield TokenProgress(done, total)
            clips = [tone(220.0 * (index + 1), seconds, Musicgen.SAMPLE_RATE) for index in range(len(prompts))]
            yield Generated(Musicgen.SAMPLE_RATE, clips)

    async def train(
        self, clips: TrainingClips, recipe: dict[str, Any], *, deadline: float, request_id: str
    ) -> AsyncIterator[TrainingStep | catalog.AdapterEntry]:
        """Training is the real model's to do (tests/test_stack_training.py): here it is unavailable."""
        with self._inference(MUSICGEN_TRAIN, request_id, decoupled=True):
            raise Unavailable("the fake models do not train")
        yield  # an async generator

    async def adapters(self) -> list[catalog.AdapterEntry]:
        return []

    async def weights_check(self, model: str, name: str = "") -> WeightsCheck:
        """What the model says of its (default's) weights, read as TritonModels.weights_check reads it."""
        problem = self.missing_weights.get(model)
        if problem is None:
            return WeightsCheck(None)
        answer = self._triton_error(model, MissingWeights(problem), "weights-probe", decoupled=True)
        return WeightsCheck(from_triton(answer, model).message)

    async def catalog(self, model: str) -> list[catalog.Entry]:
        """No separation or MusicGen models besides the Triton models' own entries."""
        return []

    async def repository(self) -> list[ModelEntry]:
        return [ModelEntry(name, "1", state, reason) for name, (state, reason) in self.states.items()]

    # -- as Triton answers -----------------------------------------------------------------------------------------

    @contextmanager
    def _inference(self, model: str, request_id: str, *, decoupled: bool = False) -> Iterator[None]:
        """One request to `model`, failed as planned (fail_next), or answered with the model's own error in-band,
        as the gateway's Triton client reads either."""
        self.calls[model] += 1
        planned = self._failures.pop(model, None)
        if planned is not None:
            raise from_triton(planned, model)
        try:
            yield
        except Exception as exc:  # every model answers any error in-band (deploy.backend.answer)
            raise from_triton(self._triton_error(model, exc, request_id, decoupled=decoupled), model) from exc

    @staticmethod
    def _triton_error(model: str, exc: Exception, request_id: str, *, decoupled: bool) -> InferenceServerException:
        """The error a client of Triton gets for a model's in-band error response (deploy.backend.error_response)."""
        encoded = encode_error(exc) if isinstance(exc, MusicError) else None
        message, code = encoded or (unexpected_error_message(model, exc), "INTERNAL")
        if decoupled:  # an error on a decoupled model's stream comes with the request id and without a status
            return InferenceServerException(f"[request id: {request_id}] {message}")
        return InferenceServerException(message, status=str(_STATUS_OF_TRITON_CODE[code]))

    def _check_weights(self, model: str) -> None:
        if model in self.missing_weights:
            raise MissingWeights(self.missing_weights[model])

    def _render(
        self,
        midi: bytes,
        soundfont_name: str,
        sample_rate: int,
        stems: bool,
        mixing: renderers.MixSettings | None,
        instruments: str,
    ) -> renderers.RenderedAudio:
        """As the fluidsynth model renders."""
        renderers.check_sample_rate(sample_rate)
        with self._render_lock:
            return self.studio.render(
                midi,
                soundfont_name,
                sample_rate,
                stems=stems,
                mixing=mixing,
                instruments=renderers.InstrumentRequest.from_json(instruments),
            )


@asynccontextmanager
async def gateway_on_fakes(settings: Settings) -> AsyncIterator[tuple[FakeModels, Gateway, str]]:
    """A real gateway in process on a free loopback port, its models FakeModels and its Redis fakeredis: the models,
    the gateway and its address; all stopped after."""
    models = FakeModels(settings)
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    gateway = await build(settings, models, redis)
    port = gateway.server.add_insecure_port("127.0.0.1:0")
    await gateway.server.start()
    try:
        yield models, gateway, f"127.0.0.1:{port}"
    finally:
        await gateway.server.stop(grace=None)
        await models.close()
        await redis.aclose()
