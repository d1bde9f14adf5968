"""The gateway's view of Triton: one typed method per model call, each with a deadline, errors mapped to ApiError.
Cancelling the awaiting task cancels the gRPC call to Triton. `Models` is that view as a protocol, which
`TritonModels` serves on Triton and the tests' FakeModels in process."""

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import numpy as np
import numpy.typing as npt
import structlog
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import MAX_GRPC_MESSAGE_SIZE, InferInput, InferRequestedOutput, InferResult
from tritonclient.utils import InferenceServerException

import composer
import renderers
import transcriber
from deploy import triton_url
from deploy.settings import SharedMemoryMode
from dgxmusic import catalog
from dgxmusic.audio import FloatAudio
from dgxmusic.models import (
    BasicPitch,
    Demucs,
    Fluidsynth,
    Musicgen,
    MusicgenTrain,
    Tensor,
    Text2Midi,
    deadline_parameters,
)
from gateway import metrics, shared_memory
from gateway.errors import ApiError, deadline_exceeded, is_queue_timeout, triton_errors
from gateway.memory import end_stubs
from renderers.mixing import MixSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Rendered:
    mix: FloatAudio
    stems: dict[str, FloatAudio]


@dataclass(frozen=True)
class Separated:
    sample_rate: int
    stems: dict[str, FloatAudio]


@dataclass(frozen=True)
class TokenProgress:
    done: int
    total: int


@dataclass(frozen=True)
class Generated:
    sample_rate: int
    clips: list[FloatAudio]  # one [frames, channels] per prompt


@dataclass(frozen=True)
class TrainingStep:
    step: int
    steps: int
    loss: float


@dataclass(frozen=True)
class TrainingClips:
    """What a train call fine-tunes on: each file's audio at Musicgen.SAMPLE_RATE, its name and caption ("": none)."""

    audio: list[FloatAudio]
    names: list[str]
    captions: list[str]


@dataclass(frozen=True)
class DemucsOptions:
    """A Separate call's choice of demucs model (empty: the server's) and demucs' options (None: demucs' default)."""

    model: str = ""
    two_stems: str = ""
    shifts: int | None = None
    overlap: float | None = None
    segment: float | None = None


# The server's demucs model with demucs' defaults: what a call that chooses nothing runs.
DEMUCS_DEFAULTS = DemucsOptions()


@dataclass(frozen=True)
class ModelEntry:
    name: str
    version: str
    state: str  # Triton's: READY, UNAVAILABLE, LOADING...
    reason: str


_NUMPY_TYPES = {"FP32": np.float32, "INT32": np.int32, "INT64": np.int64, "BYTES": np.object_}


class SharedMemoryMiss(Exception):
    """Triton could not use the request's shared memory: the region is unknown to the replica (it restarted) or
    too small for an output. The request goes again over gRPC."""

    def __init__(self, message: str, *, unregistered: bool) -> None:
        super().__init__(message)
        self.unregistered = unregistered


def _shared_memory_miss(exc: InferenceServerException) -> SharedMemoryMiss | None:
    message = str(exc.message() or "")
    if "Unable to find shared memory region" in message:
        return SharedMemoryMiss(message, unregistered=True)
    if "shared memory size specified with the request" in message:
        return SharedMemoryMiss(message, unregistered=False)
    return None


@dataclass(frozen=True)
class Answer:
    """An inference's outputs: those Triton sent over gRPC, and those it wrote into shared memory (copied out)."""

    result: InferResult
    placed: dict[str, npt.NDArray[Any]]

    def as_numpy(self, name: str) -> Any:
        return self.placed[name] if name in self.placed else self.result.as_numpy(name)


def _read_placed(
    result: InferResult, region: shared_memory.Region, places: dict[str, tuple[int, int]]
) -> dict[str, npt.NDArray[Any]]:
    """Copies of the outputs Triton wrote into the region, by name."""
    arrays = {}
    for name, (offset, _) in places.items():
        output = result.get_output(name)
        if output is not None:
            arrays[name] = region.read(_NUMPY_TYPES[output.datatype], list(output.shape), offset)
    return arrays


def render_output_bytes(midi: bytes, sample_rate: int, stems: bool) -> dict[str, int] | None:
    """The most bytes a render's MIX and STEMS take (its played frames and the longest tail, float32 stereo); None
    for MIDI the renderer will refuse anyway."""
    try:
        performance = renderers.parse_midi(midi, max_seconds=float("inf"), max_bytes=len(midi) + 1)
    except renderers.RenderError:
        return None
    frames = round(performance.duration_seconds * sample_rate) + round(renderers.DEFAULT_TAIL_SECONDS * sample_rate)
    one = frames * 2 * 4
    sizes = {Fluidsynth.MIX.name: one}
    if stems:
        sizes[Fluidsynth.STEMS.name] = one * len(performance.stems)
    return sizes


def basic_pitch_output_bytes(windows: int) -> dict[str, int]:
    """The bytes of each basic_pitch output for `windows` windows (float32 [windows, frames, bins])."""
    return {
        tensor.name: windows * transcriber.WINDOW_FRAMES * transcriber.OUTPUT_BINS[key] * 4
        for key, tensor in BasicPitch.OUTPUTS.items()
    }


def _tensor(spec: Tensor, value: npt.ArrayLike) -> InferInput:
    """An input of `spec`'s name and datatype (the value converted to it)."""
    array = np.ascontiguousarray(value, dtype=_NUMPY_TYPES[spec.datatype])
    tensor = InferInput(spec.name, list(array.shape), spec.datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def song_options(song: composer.SongRequest) -> dict[str, Any]:
    """The overrides of a SongRequest as the text2midi model's OPTIONS JSON (unset values left out)."""
    fields = {
        "bpm": song.bpm,
        "key": song.key,
        "bars": song.bars,
        "seconds": song.seconds,
        "seed": song.seed,
        "time_signature": song.time_signature,
    }
    return {name: value for name, value in fields.items() if value is not None}


# How long ListModels waits for a model to answer its weights probe: a busy instance answers only after its
# current work (minutes of separation or generation), and the list should not wait for that.
WEIGHTS_PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class WeightsCheck:
    problem: str | None  # what the model said is missing; None when its weights are there (or it was busy)
    busy: bool = False  # the model did not answer in time; `problem` is its last answer, if any
    unknown: str | None = None  # the model knows no model of the name asked about: why, listing the known ones


# How long a canary's probe waits for its model (gateway.canary); a model busy longer is alive.
PROBE_SECONDS = 5.0


def _probe_inputs(model: str) -> list[InferInput]:
    """A request the model's stub answers at once: one it refuses (an empty prompt, no MIDI, no audio), or, for
    basic_pitch, whose input shape Triton checks before the stub sees it, one window of silence (milliseconds)."""
    probes = {
        Text2Midi.NAME: lambda: [_tensor(Text2Midi.PROMPT, [[b""]]), _tensor(Text2Midi.OPTIONS, [[b"{}"]])],
        Fluidsynth.NAME: lambda: [
            _tensor(Fluidsynth.MIDI, [[b""]]),
            _tensor(Fluidsynth.SOUNDFONT, [[b""]]),
            _tensor(Fluidsynth.SAMPLE_RATE, [[44100]]),
        ],
        BasicPitch.NAME: lambda: [
            _tensor(BasicPitch.WINDOWS, np.zeros((1, transcriber.WINDOW_SAMPLES, 1), np.float32))
        ],
        Demucs.NAME: lambda: [_tensor(Demucs.AUDIO, np.zeros((0, 2))), _tensor(Demucs.SAMPLE_RATE, [44100])],
        Musicgen.NAME: lambda: [_tensor(Musicgen.PROMPT, np.zeros((1, 0))), _tensor(Musicgen.DURATION, [[0.0]])],
        MusicgenTrain.NAME: lambda: _training_inputs(TrainingClips([], [], []), b"{}"),
    }
    return probes[model]()


def _training_inputs(clips: TrainingClips, recipe: bytes) -> list[InferInput]:
    frames = [len(clip) for clip in clips.audio]
    audio = np.concatenate(clips.audio) if clips.audio else np.zeros((0, 2), np.float32)
    return [
        _tensor(MusicgenTrain.AUDIO, audio),
        _tensor(MusicgenTrain.CLIP_FRAMES, frames),
        _tensor(MusicgenTrain.CLIP_NAMES, [name.encode() for name in clips.names]),
        _tensor(MusicgenTrain.CAPTIONS, [caption.encode() for caption in clips.captions]),
        _tensor(MusicgenTrain.RECIPE, [recipe]),
    ]


def _model_inputs(model: str, name: str) -> list[InferInput]:
    """The input naming a demucs or MusicGen model (none for the default)."""
    if not name:
        return []
    return [
        _tensor(Demucs.MODEL, [name.encode()]) if model == Demucs.NAME else _tensor(Musicgen.MODEL, [[name.encode()]])
    ]


def _list_models_input(model: str) -> InferInput:
    return _tensor(Demucs.LIST_MODELS, [1]) if model == Demucs.NAME else _tensor(Musicgen.LIST_MODELS, [[1]])


def _demucs_inputs(options: DemucsOptions) -> list[InferInput]:
    """The demucs model's optional inputs a call sets."""
    given = [
        (Demucs.MODEL, options.model.encode() or None),
        (Demucs.TWO_STEMS, options.two_stems.encode() or None),
        (Demucs.SHIFTS, options.shifts),
        (Demucs.OVERLAP, options.overlap),
        (Demucs.SEGMENT, options.segment),
    ]
    return [_tensor(tensor, [value]) for tensor, value in given if value is not None]


class Models(Protocol):
    """Every model call the gateway makes. A model's error, and any failure to reach it, is raised as an ApiError."""

    async def close(self) -> None: ...

    async def ready(self, models: list[str], deadline: float = 1.0) -> bool: ...

    async def compose(
        self, song: composer.SongRequest, *, deadline: float, request_id: str
    ) -> tuple[bytes, dict[str, Any]]: ...

    async def render(
        self,
        midi: bytes,
        *,
        soundfont: str,
        sample_rate: int,
        stems: bool,
        deadline: float,
        request_id: str,
        mixing: MixSettings | None = None,
        instruments: str = "",
    ) -> Rendered: ...

    async def instruments(self, *, deadline: float, request_id: str) -> dict[str, Any]: ...

    async def note_activations(
        self, windows: npt.NDArray[np.float32], *, deadline: float, request_id: str
    ) -> dict[str, npt.NDArray[np.float32]]: ...

    def separate(
        self,
        audio: FloatAudio,
        sample_rate: int,
        *,
        deadline: float,
        request_id: str,
        options: DemucsOptions = DEMUCS_DEFAULTS,
    ) -> AsyncIterator[float | Separated]: ...

    def generate_audio(
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
    ) -> AsyncIterator[TokenProgress | Generated]: ...

    def train(
        self, clips: TrainingClips, recipe: dict[str, Any], *, deadline: float, request_id: str
    ) -> AsyncIterator[TrainingStep | catalog.AdapterEntry]: ...

    async def adapters(self) -> list[catalog.AdapterEntry]: ...

    async def weights_check(self, model: str, name: str = "") -> WeightsCheck: ...

    async def catalog(self, model: str) -> list[catalog.Entry]: ...

    async def repository(self) -> list[ModelEntry]: ...


# tritonclient's channel options, with what makes replicas work (deploy.triton_url): calls balanced per request
# (round_robin; the default pick_first would send every call to one replica over its one HTTP/2 connection), a short
# reconnect backoff (gRPC's default grows to 120 s: a restarted Triton, or replica, would stay left out that long),
# and keepalive pings, so that a replica whose host vanished without closing its connections is left out within
# KEEPALIVE_TIME_MS + KEEPALIVE_TIMEOUT_MS (deploy.triton.command lets Triton accept pings that often).
KEEPALIVE_TIME_MS = 10_000
KEEPALIVE_TIMEOUT_MS = 5_000
CHANNEL_ARGS: list[tuple[str, int | str]] = [
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
    ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
# Triton's answers while a model is unloaded and loaded again.
_RELOADING_MESSAGES = ("unknown model", "is not ready", "is not healthy", "has no available versions")
# How long a call whose replica went away waits before its one repeat: the balancer learns that the replica's
# connection closed a moment after the calls on it do, and meanwhile may pick the same replica again.
FAILOVER_PAUSE_SECONDS = 0.1
# The longest wait on a replica's shared memory API (registering a region, removing one, listing them).
SHARED_MEMORY_CALL_SECONDS = 5.0
# Attempts of one inference: the first, one after a reload, one more if it met the model still reloading, and one on
# another replica after the one that held it went away (_is_replica_gone).
_ATTEMPTS = 4


def _is_replica_gone(exc: InferenceServerException | grpc.aio.AioRpcError) -> bool:
    """The call failed because its replica could not be reached or went away (its connection closed under it): one
    more try goes to the next replica (round_robin), within the same deadline. Not a queue timeout, which is
    UNAVAILABLE too but means the replica gave up on the request."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return bool(exc.code() == grpc.StatusCode.UNAVAILABLE)
    return str(exc.status()) == str(grpc.StatusCode.UNAVAILABLE) and not is_queue_timeout(exc)


def _microseconds(seconds: float) -> int:
    """A `timeout` for Triton's queue policy; at least 1 (0 would mean none)."""
    return max(1, int(seconds * 1_000_000))


class _Deadline:
    def __init__(self, model: str, seconds: float) -> None:
        self.model = model
        self.expires = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; DEADLINE_EXCEEDED once none are."""
        remaining = self.expires - time.monotonic()
        if remaining <= 0:
            raise deadline_exceeded(self.model)
        return remaining


class TritonModels:
    def __init__(
        self,
        url: str,
        restricted_headers: dict[str, str] | None = None,
        *,
        shared_memory_mode: SharedMemoryMode = "off",
        shared_memory_bytes: int = 0,
    ) -> None:
        """`restricted_headers` carry the stack's key to Triton's restricted APIs (deploy.triton.grpc_key_headers),
        which registering shared memory is one of; `shared_memory_mode` says whether large outputs come through
        shared memory (gateway.shared_memory), `shared_memory_bytes` the most its regions take."""
        self.client = triton_aio.InferenceServerClient(url, channel_args=CHANNEL_ARGS)
        self.url_text = url
        self.url = triton_url.parse(url)
        self.restricted_headers = restricted_headers or {}
        self.shared_memory = (
            shared_memory.RegionPool(shared_memory_bytes, self._register_region, self._unregister_region)
            if shared_memory.enabled(shared_memory_mode, self.url)
            else None
        )
        self.local_port = self.url.local_port  # a Triton on this host: its stale stubs can be ended after a reload
        self._replicas: dict[str, TritonModels] = {}  # by url: a client of each replica alone, for reloads
        self._last_weights_problem: dict[str, str | None] = {}
        # Per model: one reload at a time, and how many have completed (a request that began before the latest
        # completed one retries instead of reloading again).
        self._reload_locks: dict[str, asyncio.Lock] = {}
        self._reloads: dict[str, int] = {}

    async def close(self) -> None:
        if self.shared_memory is not None:
            await self._unregister_regions([region.name for region in self.shared_memory.regions])
            self.shared_memory.close()
        for replica in self._replicas.values():
            await replica.close()
        await self.client.close()

    async def start(self) -> None:
        """Removes the shared memory regions of gateways that died (their files, and Triton's registrations of
        them), when this gateway uses shared memory."""
        if self.shared_memory is None:
            return
        if removed := shared_memory.unlink_stale_files():
            log.warning("removed_stale_shared_memory", regions=removed)
        stale: set[str] = set()
        for client in await self._replica_clients():
            try:
                status = await client.get_system_shared_memory_status(
                    headers=self.restricted_headers, as_json=True, client_timeout=SHARED_MEMORY_CALL_SECONDS
                )
            except InferenceServerException as exc:
                log.warning("shared_memory_status_failed", error=str(exc.message()))
                continue
            stale.update(shared_memory.stale_names(status.get("regions", {})))
        await self._unregister_regions(sorted(stale))

    async def _replica_clients(self) -> list[triton_aio.InferenceServerClient]:
        """A client of each replica alone (this client's own for one Triton)."""
        if self.url.form == "host":
            return [self.client]
        return [self._replica(url).client for url in await self._replica_urls()]

    def _replica(self, url: str) -> "TritonModels":
        return self._replicas.get(url) or self._replicas.setdefault(url, TritonModels(url, self.restricted_headers))

    async def _register_region(self, region: shared_memory.Region) -> None:
        """Registers the region with every replica (a call may reach any of them); one that has it already is
        fine, and one that is away gets it when a call finds it missing there (_infer_placed)."""
        for client in await self._replica_clients():
            try:
                await client.register_system_shared_memory(
                    region.name,
                    region.key,
                    region.byte_size,
                    headers=self.restricted_headers,
                    client_timeout=SHARED_MEMORY_CALL_SECONDS,
                )
            except InferenceServerException as exc:
                if str(exc.status()) == str(grpc.StatusCode.UNAVAILABLE):
                    log.warning("shared_memory_register_failed", region=region.name, error=str(exc.message()))
                elif str(exc.status()) != str(grpc.StatusCode.ALREADY_EXISTS):
                    raise

    async def _register_again(self) -> None:
        """Registers every region again, on the replicas that lost them (a restarted Triton knows none)."""
        if self.shared_memory is not None:
            for region in self.shared_memory.regions:
                await self._register_region(region)

    async def _unregister_region(self, region: shared_memory.Region) -> None:
        await self._unregister_regions([region.name])

    async def _unregister_regions(self, names: list[str]) -> None:
        """Unregisters the regions from every replica that can be reached; one that is gone forgot them anyway."""
        if not names:
            return
        for client in await self._replica_clients():
            for name in names:
                try:
                    await client.unregister_system_shared_memory(
                        name, headers=self.restricted_headers, client_timeout=SHARED_MEMORY_CALL_SECONDS
                    )
                except InferenceServerException as exc:
                    log.warning("shared_memory_unregister_failed", region=name, error=str(exc.message()))

    async def _infer(self, model: str, inputs: list[InferInput], *, deadline: float, **kwargs: Any) -> InferResult:
        """One inference, given to Triton with the deadline both as the gRPC deadline and as the request's queue
        timeout, so that Triton drops it unexecuted once nobody waits for it.

        A model whose python stub died is reloaded and the request retried: Triton never restarts a dead stub and
        keeps calling the model READY (FINDINGS.md), but in explicit model control mode load_model() brings it
        back in a fraction of a second. Concurrent requests that find it dead share one reload."""
        clock = _Deadline(model, deadline)
        with triton_errors(model):
            generation = self._reloads.get(model, 0)  # reloads completed before this request's first attempt
            failed_over = False
            for attempt in range(1, _ATTEMPTS + 1):
                left = clock.left()
                try:
                    return await self.client.infer(
                        model,
                        inputs,
                        headers=self.restricted_headers,  # a Triton facing a network asks its key for inference
                        client_timeout=left,
                        timeout=_microseconds(left),
                        # Requests batched together run one after another in the model, past any queue timeout:
                        # the model checks this itself (deploy.backend.given_up).
                        parameters=deadline_parameters(left),
                        **kwargs,
                    )
                except InferenceServerException as exc:
                    if (miss := _shared_memory_miss(exc)) is not None:
                        raise miss from exc
                    if is_queue_timeout(exc):  # UNAVAILABLE, but not to be retried
                        raise
                    message = str(exc.message() or "")
                    unavailable = str(exc.status()) == str(grpc.StatusCode.UNAVAILABLE)
                    if attempt == _ATTEMPTS or not (unavailable or any(w in message for w in _RELOADING_MESSAGES)):
                        raise
                    if "is not healthy" in message:
                        await self._reload(model, generation, clock, reason=message, found_by="request")
                    elif self._reloading(model, generation):
                        await self._reload_done(model, clock)
                    elif _is_replica_gone(exc) and not failed_over:
                        failed_over = True
                        await self._retrying(model, message, clock)
                    else:
                        raise  # not ours to hide: the model is down and nobody is bringing it back
                    generation = self._reloads.get(model, 0)
            raise AssertionError("unreachable")

    async def _infer_placed(
        self,
        model: str,
        inputs: list[InferInput],
        wanted: list[Tensor],
        large: dict[str, int],
        *,
        deadline: float,
        request_id: str,
    ) -> Answer:
        """An inference whose `large` outputs (their most bytes, by name) Triton writes into one of the gateway's
        shared memory regions, when it uses shared memory and one is free; over gRPC otherwise, and when Triton
        cannot use the region (then a replica that lost the regions gets them again)."""
        clock = _Deadline(model, deadline)
        grpc_outputs = [InferRequestedOutput(tensor.name) for tensor in wanted]
        pool, region = self.shared_memory, None
        if pool is not None and large:
            try:
                region = await pool.acquire(shared_memory.span(large))
                if region is None:
                    metrics.SHARED_MEMORY_FALLBACKS.labels(model, "no_room").inc()
            except (InferenceServerException, shared_memory.SharedMemoryException) as exc:
                log.warning("shared_memory_failed", model=model, error=str(exc), effect="sent over gRPC")
                metrics.SHARED_MEMORY_FALLBACKS.labels(model, "failed").inc()
        if pool is None or region is None:
            result = await self._infer(model, inputs, outputs=grpc_outputs, request_id=request_id, deadline=deadline)
            return Answer(result, {})
        try:
            places = shared_memory.layout(large)
            outputs = []
            for tensor in wanted:
                output = InferRequestedOutput(tensor.name)
                if tensor.name in places:
                    offset, size = places[tensor.name]
                    output.set_shared_memory(region.name, size, offset)
                outputs.append(output)
            try:
                result = await self._infer(model, inputs, outputs=outputs, request_id=request_id, deadline=clock.left())
            except SharedMemoryMiss as miss:
                log.warning("shared_memory_missed", model=model, error=str(miss), effect="sent over gRPC")
                reason = "unregistered" if miss.unregistered else "too_small"
                metrics.SHARED_MEMORY_FALLBACKS.labels(model, reason).inc()
                if miss.unregistered:
                    try:
                        await self._register_again()
                    except InferenceServerException as exc:  # a replica still away: its calls go over gRPC
                        log.warning("shared_memory_register_failed", error=str(exc.message()))
                result = await self._infer(
                    model, inputs, outputs=grpc_outputs, request_id=request_id, deadline=clock.left()
                )
                return Answer(result, {})
            # Tens of MB to copy: off the event loop (the region stays this request's until the copy is done).
            return Answer(result, await asyncio.to_thread(_read_placed, result, region, places))
        finally:
            pool.release(region)

    @staticmethod
    async def _retrying(model: str, error: str, clock: _Deadline) -> None:
        log.warning("triton_replica_gone", model=model, error=error, effect="retried once on another replica")
        metrics.TRITON_RETRIES.labels(model).inc()
        await asyncio.sleep(min(FAILOVER_PAUSE_SECONDS, clock.left()))

    def reload_generation(self, model: str) -> int:
        """How many reloads of the model have completed; what was seen of it at one generation is stale at the next."""
        return self._reloads.get(model, 0)

    def is_reloading(self, model: str) -> bool:
        """Whether a reload of the model is under way."""
        lock = self._reload_locks.get(model)
        return lock is not None and lock.locked()

    async def reload(self, model: str, generation: int, *, reason: str, deadline: float) -> None:
        """Reloads a model found dead outside any request (gateway.canary): the one reload requests share, so
        that requests failing meanwhile wait for it rather than reload again; nothing is done if a reload completed
        since `generation`."""
        with triton_errors(model):
            await self._reload(model, generation, _Deadline(model, deadline), reason=reason, found_by="canary")

    def _reloading(self, model: str, generation: int) -> bool:
        """Whether a reload is under way, or completed since the request's attempt began."""
        return self.is_reloading(model) or self.reload_generation(model) != generation

    async def _reload_done(self, model: str, clock: _Deadline) -> None:
        """Waits for a reload in progress (if any) to end."""
        lock = self._reload_locks.setdefault(model, asyncio.Lock())
        try:
            async with asyncio.timeout(clock.left()), lock:
                pass
        except TimeoutError as exc:
            raise deadline_exceeded(model) from exc

    async def _reload(self, model: str, generation: int, clock: _Deadline, *, reason: str, found_by: str) -> None:
        """Reloads the model, unless another request (or the canary: `found_by`) has done so since `generation`
        (or is doing it: then this waits for that reload)."""
        lock = self._reload_locks.setdefault(model, asyncio.Lock())
        try:
            async with asyncio.timeout(clock.left()), lock:
                if self._reloads.get(model, 0) != generation:
                    return
                if self.url.form == "host":
                    await self._reload_here(model, clock, reason=reason, found_by=found_by)
                else:
                    await self._reload_on_replicas(model, clock, found_by=found_by)
                self._reloads[model] = generation + 1
        except TimeoutError as exc:
            raise deadline_exceeded(model) from exc

    async def _reload_here(self, model: str, clock: _Deadline, *, reason: str, found_by: str) -> None:
        """Reloads the model on this client's one Triton."""
        log.warning("reloading_model", model=model, reason=reason, found_by=found_by, triton=self.url_text)
        metrics.MODEL_RELOADS.labels(model, found_by).inc()
        # load_model() of a model Triton believes loaded is a no-op: unload it first.
        headers = self.restricted_headers
        await self.client.unload_model(model, headers=headers, client_timeout=clock.left())
        if self.local_port is not None and (ended := end_stubs(self.local_port, model)):
            log.warning("ended_stale_stubs", model=model, pids=ended)
        await self.client.load_model(model, headers=headers, client_timeout=clock.left())

    async def _reload_on_replicas(self, model: str, clock: _Deadline, *, found_by: str) -> None:
        """Reloads the model on each replica whose probe finds its stub dead, through a client of that replica
        alone: through the balanced channel, the unload would reach one replica and the load the next."""
        for url in await self._replica_urls():
            replica = self._replica(url)
            found = await replica.probe(model, deadline=min(PROBE_SECONDS, clock.left()))
            if found is not None:
                await replica._reload_here(model, clock, reason=found, found_by=found_by)

    async def _replica_urls(self) -> list[str]:
        """Each replica's own host:port: the ipv4: list's, or those the dns: name resolves to now."""
        if self.url.form == "ipv4":
            return [replica.address for replica in self.url.replicas]
        [name] = self.url.replicas
        try:
            found = await asyncio.get_running_loop().getaddrinfo(name.host, name.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            log.warning("replicas_not_resolved", name=name.host, error=str(exc))
            return []
        hosts = {str(address[0]) for *_, address in found}
        replicas = (triton_url.Replica(f"[{host}]" if ":" in host else host, name.port) for host in sorted(hosts))
        return [replica.address for replica in replicas]

    async def ready(self, models: list[str], deadline: float = 1.0) -> bool:
        """Whether every model answers ready (on the replica each question reaches); a replica that went away
        under the question is not an answer: it is asked once more, of the next replica."""
        for model in models:
            with triton_errors(model):
                try:
                    ready = await self.client.is_model_ready(model, client_timeout=deadline)
                except InferenceServerException as exc:
                    if not _is_replica_gone(exc):
                        raise
                    ready = await self.client.is_model_ready(model, client_timeout=deadline)
                if not ready:
                    return False
        return True

    async def compose(
        self, song: composer.SongRequest, *, deadline: float, request_id: str
    ) -> tuple[bytes, dict[str, Any]]:
        inputs = [
            _tensor(Text2Midi.PROMPT, [[song.prompt.encode()]]),
            _tensor(Text2Midi.OPTIONS, [[json.dumps(song_options(song)).encode()]]),
        ]
        result = await self._infer(Text2Midi.NAME, inputs, request_id=request_id, deadline=deadline)
        midi = result.as_numpy(Text2Midi.MIDI.name).reshape(-1)[0]
        metadata = json.loads(result.as_numpy(Text2Midi.METADATA.name).reshape(-1)[0])
        return bytes(midi), metadata

    async def render(
        self,
        midi: bytes,
        *,
        soundfont: str,
        sample_rate: int,
        stems: bool,
        deadline: float,
        request_id: str,
        mixing: MixSettings | None = None,
        instruments: str = "",
    ) -> Rendered:
        """The rendered mix (and stems); `instruments` is renderers.InstrumentRequest's JSON, "" for none."""
        inputs = [
            _tensor(Fluidsynth.MIDI, [[midi]]),
            _tensor(Fluidsynth.SOUNDFONT, [[soundfont.encode()]]),
            _tensor(Fluidsynth.SAMPLE_RATE, [[sample_rate]]),
        ]
        if mixing is not None and mixing != MixSettings():
            inputs.append(_tensor(Fluidsynth.MIXING, [[mixing.to_json().encode()]]))
        if instruments:
            inputs.append(_tensor(Fluidsynth.INSTRUMENTS, [[instruments.encode()]]))
        wanted = [Fluidsynth.MIX, Fluidsynth.STEMS, Fluidsynth.STEM_NAMES] if stems else [Fluidsynth.MIX]
        large = None
        if self.shared_memory is not None:
            # Parsing minutes of MIDI takes a while: off the event loop.
            large = await asyncio.to_thread(render_output_bytes, midi, sample_rate, stems)
        result = await self._infer_placed(
            Fluidsynth.NAME, inputs, wanted, large or {}, request_id=request_id, deadline=deadline
        )
        mix = result.as_numpy(Fluidsynth.MIX.name)[0]
        stem_audio: dict[str, FloatAudio] = {}
        if stems:
            names = [name.decode() for name in result.as_numpy(Fluidsynth.STEM_NAMES.name).reshape(-1)]
            stem_audio = dict(zip(names, result.as_numpy(Fluidsynth.STEMS.name)[0], strict=True))
        return Rendered(mix, stem_audio)

    async def instruments(self, *, deadline: float, request_id: str) -> dict[str, Any]:
        """The fluidsynth model's instrument catalog: ListInstrumentsResponse's fields as JSON (InstrumentCatalog)."""
        inputs = [*_probe_inputs(Fluidsynth.NAME), _tensor(Fluidsynth.LIST_INSTRUMENTS, [[1]])]
        result = await self._infer(
            Fluidsynth.NAME,
            inputs,
            outputs=[InferRequestedOutput(Fluidsynth.INSTRUMENT_CATALOG.name)],
            request_id=request_id,
            deadline=deadline,
        )
        answer: dict[str, Any] = json.loads(result.as_numpy(Fluidsynth.INSTRUMENT_CATALOG.name).reshape(-1)[0])
        return answer

    async def note_activations(
        self, windows: npt.NDArray[np.float32], *, deadline: float, request_id: str
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Basic Pitch's raw outputs (by transcriber's names) for at most BasicPitch.MAX_WINDOWS_PER_REQUEST windows
        [n, 43844, 1]; through shared memory when the gateway uses it (11 MB for 37 windows)."""
        result = await self._infer_placed(
            BasicPitch.NAME,
            [_tensor(BasicPitch.WINDOWS, windows)],
            list(BasicPitch.OUTPUTS.values()),
            basic_pitch_output_bytes(len(windows)),
            request_id=request_id,
            deadline=deadline,
        )
        return {key: result.as_numpy(tensor.name) for key, tensor in BasicPitch.OUTPUTS.items()}

    async def separate(
        self,
        audio: FloatAudio,
        sample_rate: int,
        *,
        deadline: float,
        request_id: str,
        options: DemucsOptions = DEMUCS_DEFAULTS,
    ) -> AsyncIterator[float | Separated]:
        """Streams the demucs model's progress (fractions), then its stems. Cancelling the iteration cancels the
        stream, and the model stops at its next chunk."""
        inputs = [_tensor(Demucs.AUDIO, audio), _tensor(Demucs.SAMPLE_RATE, [sample_rate]), *_demucs_inputs(options)]
        async for result in self._stream(Demucs.NAME, inputs, deadline=deadline, request_id=request_id):
            names = result.as_numpy(Demucs.STEM_NAMES.name)
            if names is None:
                yield float(result.as_numpy(Demucs.PROGRESS.name)[0])
                continue
            stems = result.as_numpy(Demucs.STEMS.name)
            yield Separated(
                int(result.as_numpy(Demucs.STEMS_SAMPLE_RATE.name)[0]),
                {name.decode(): stem for name, stem in zip(names.reshape(-1), stems, strict=True)},
            )
            return

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
        """Streams the musicgen model's token progress, then the clips (`model` "": the server's; `continued`: the
        audio every clip continues, and begins with; `adapter`: the fine-tuned adapter, "" for none, of `owner`'s).
        Cancelling the iteration cancels the stream and the model stops generating."""
        # musicgen is a batched model: every tensor carries this request's row of the batch first.
        inputs = [
            _tensor(Musicgen.PROMPT, [[p.encode() for p in prompts]]),
            _tensor(Musicgen.DURATION, [[seconds]]),
            *(_tensor(Musicgen.SAMPLING[name], [[value]]) for name, value in sampling.items()),
        ]
        if melody is not None:
            inputs.append(_tensor(Musicgen.MELODY, melody[0][np.newaxis]))
            inputs.append(_tensor(Musicgen.MELODY_SAMPLE_RATE, [[melody[1]]]))
        if model:
            inputs.append(_tensor(Musicgen.MODEL, [[model.encode()]]))
        if continued is not None:
            inputs.append(_tensor(Musicgen.CONTINUED_AUDIO, continued[0][np.newaxis]))
            inputs.append(_tensor(Musicgen.CONTINUED_SAMPLE_RATE, [[continued[1]]]))
        if adapter:
            inputs.append(_tensor(Musicgen.ADAPTER, [[adapter.encode()]]))
            inputs.append(_tensor(Musicgen.ADAPTER_OWNER, [[owner.encode()]]))
        async for result in self._stream(Musicgen.NAME, inputs, deadline=deadline, request_id=request_id):
            audio = result.as_numpy(Musicgen.AUDIO.name)
            if audio is None:
                done, total = result.as_numpy(Musicgen.TOKENS_DONE.name), result.as_numpy(Musicgen.TOKENS_TOTAL.name)
                yield TokenProgress(int(done.reshape(-1)[0]), int(total.reshape(-1)[0]))
                continue
            yield Generated(int(result.as_numpy(Musicgen.AUDIO_SAMPLE_RATE.name).reshape(-1)[0]), list(audio[0]))
            return

    async def train(
        self, clips: TrainingClips, recipe: dict[str, Any], *, deadline: float, request_id: str
    ) -> AsyncIterator[TrainingStep | catalog.AdapterEntry]:
        """Streams the musicgen_train model's steps (with their loss), then the adapter it saved. Cancelling the
        iteration cancels the stream, and the model stops at its next step, leaving no adapter."""
        inputs = _training_inputs(clips, json.dumps(recipe).encode())
        async for result in self._stream(MusicgenTrain.NAME, inputs, deadline=deadline, request_id=request_id):
            adapter = result.as_numpy(MusicgenTrain.ADAPTER.name)
            if adapter is None:
                step, steps, loss = (
                    result.as_numpy(tensor.name).reshape(-1)[0]
                    for tensor in (MusicgenTrain.STEP, MusicgenTrain.STEPS, MusicgenTrain.LOSS)
                )
                yield TrainingStep(int(step), int(steps), float(loss))
                continue
            yield catalog.decode_adapters(bytes(adapter.reshape(-1)[0]))[0]
            return

    async def adapters(self) -> list[catalog.AdapterEntry]:
        """The fine-tuned adapters the musicgen model can apply; empty when it does not answer within
        WEIGHTS_PROBE_SECONDS (busy with other work)."""
        inputs = [*_probe_inputs(Musicgen.NAME), _list_models_input(Musicgen.NAME)]
        try:
            async for result in self._stream(
                Musicgen.NAME, inputs, deadline=WEIGHTS_PROBE_SECONDS, request_id="adapters"
            ):
                found = result.as_numpy(Musicgen.ADAPTERS.name)
                if found is not None:
                    return catalog.decode_adapters(bytes(found.reshape(-1)[0]))
        except ApiError as exc:
            if exc.code != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        return []

    async def _stream(
        self, model: str, inputs: list[InferInput], *, deadline: float, request_id: str
    ) -> AsyncIterator[InferResult]:
        """The responses of one request to a decoupled model."""
        clock = _Deadline(model, deadline)

        async def one_request() -> AsyncIterator[dict[str, Any]]:
            timeout = _microseconds(clock.left())
            yield {"model_name": model, "inputs": inputs, "request_id": request_id, "timeout": timeout}

        with triton_errors(model):
            for attempt in (1, 2):
                answered = False
                try:
                    async for result, error in self.client.stream_infer(
                        one_request(), stream_timeout=clock.left(), headers=self.restricted_headers
                    ):
                        if error is not None:
                            raise error
                        answered = True
                        yield result
                    return
                except (InferenceServerException, grpc.aio.AioRpcError) as exc:
                    # Repeated only while the client has had nothing of it: past its first response, the replica's
                    # work (and what the caller streamed on) cannot be taken back.
                    if answered or attempt == 2 or not _is_replica_gone(exc):
                        raise
                    await self._retrying(model, str(exc), clock)

    async def weights_check(self, model: str, name: str = "") -> WeightsCheck:
        """What a weights-loading model (demucs, musicgen) says about the weights of its model `name` ("": its
        default): it answers an empty request with a missing_weights error (dgxmusic.models) when they are missing,
        and with an input error otherwise: about the model's name (`unknown`) when it knows no such model."""
        empty = [*_probe_inputs(model), *_model_inputs(model, name)]
        problem = None
        try:
            async for _ in self._stream(model, empty, deadline=WEIGHTS_PROBE_SECONDS, request_id="weights-probe"):
                pass
        except ApiError as exc:
            if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return WeightsCheck(self._last_weights_problem.get(f"{model}/{name}"), busy=True)
            if exc.code == grpc.StatusCode.FAILED_PRECONDITION:
                problem = exc.message
            if name and exc.code == grpc.StatusCode.INVALID_ARGUMENT and exc.field in ("model", "options.model"):
                return WeightsCheck(None, unknown=exc.message.removeprefix(f"{exc.field}: "))
        self._last_weights_problem[f"{model}/{name}"] = problem
        return WeightsCheck(problem)

    async def catalog(self, model: str) -> list[catalog.Entry]:
        """Every separation (demucs) or MusicGen (musicgen) model the Triton model knows, with its state; empty when
        it does not answer within WEIGHTS_PROBE_SECONDS (busy with other work)."""
        inputs = [*_probe_inputs(model), _list_models_input(model)]
        try:
            async for result in self._stream(model, inputs, deadline=WEIGHTS_PROBE_SECONDS, request_id="catalog"):
                models = result.as_numpy((Demucs if model == Demucs.NAME else Musicgen).MODELS.name)
                if models is not None:
                    return catalog.decode(bytes(models.reshape(-1)[0]))
        except ApiError as exc:
            if exc.code != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        return []

    async def probe(self, model: str, deadline: float = PROBE_SECONDS) -> str | None:
        """Triton's answer when the model's stub is dead or hung ("... is not healthy"), from a request it answers
        at once (_probe_inputs); None when the stub answered, or was busy past the deadline (then it is alive)."""
        inputs = _probe_inputs(model)
        try:
            if model in (Demucs.NAME, Musicgen.NAME, MusicgenTrain.NAME):  # decoupled
                async for _ in self._stream(model, inputs, deadline=deadline, request_id="canary-probe"):
                    pass
            else:
                with triton_errors(model):
                    await self.client.infer(
                        model,
                        inputs,
                        headers=self.restricted_headers,
                        client_timeout=deadline,
                        timeout=_microseconds(deadline),
                        parameters=deadline_parameters(deadline),
                        request_id="canary-probe",
                    )
        except ApiError as exc:
            if "is not healthy" in exc.message:
                return exc.message
        return None

    async def repository(self) -> list[ModelEntry]:
        """Every model in Triton's repository with its state (loaded or not)."""
        with triton_errors("repository"):
            index = await self.client.get_model_repository_index(headers=self.restricted_headers, as_json=True)
        return [
            ModelEntry(m["name"], m.get("version", ""), m.get("state", "UNAVAILABLE"), m.get("reason", ""))
            for m in index.get("models", [])
        ]
