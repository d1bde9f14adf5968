"""dgxmusic.v1.MusicService: validates each request, sequences the Triton models (text2midi -> fluidsynth), streams
progress and audio in chunks, and serves repeats from the Redis cache."""

import asyncio
import dataclasses
import hashlib
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

import composer
from deploy.settings import Settings
from dgxmusic import audio
from dgxmusic.audio import FloatAudio
from dgxmusic.models import DEMUCS, MUSICGEN, Musicgen
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1 import music_service_pb2_grpc as pb_grpc
from gateway import analysis
from gateway.cache import JobStore, Recording, ResultCache, cache_key
from gateway.errors import ApiError, field_renamed, invalid_argument, request_errors, too_large
from gateway.memory import model_memory
from gateway.scope import Admission, RequestScope, streaming_rpc, unary_rpc
from gateway.songs import song_info, song_request, song_requests
from gateway.triton import Generated, Models, Rendered
from gateway.uploads import receive_audio

_SOUNDFONT_NAME = re.compile(r"[A-Za-z0-9 _.+-]{0,128}")
# Fractions of a Compose job at which each stage starts; the rest is streaming.
_COMPOSE_PROGRESS = {pb.STAGE_COMPOSING: 0.0, pb.STAGE_RENDERING: 0.1, pb.STAGE_STREAMING: 0.5}
_RENDER_PROGRESS = {pb.STAGE_RENDERING: 0.0, pb.STAGE_STREAMING: 0.5}


MAX_PROMPTS_PER_GENERATION = 8
DEFAULT_GENERATE_SECONDS = 8.0
MELODY_FORMAT = audio.ResolvedFormat(
    Musicgen.SAMPLE_RATE, audio_pb2.SAMPLE_FORMAT_FLOAT32, audio_pb2.AUDIO_ENCODING_PCM
)


class MusicService(pb_grpc.MusicServiceServicer):  # type: ignore[misc]  # untyped generated base
    def __init__(self, settings: Settings, models: Models, cache: ResultCache, jobs: JobStore) -> None:
        self.settings = settings
        self.models = models
        self.cache = cache
        self.jobs = jobs
        self._writing: dict[str, asyncio.Task[None]] = {}  # cache writes in flight, by key
        self.admission = Admission(settings.max_concurrent_rpcs)  # read by scope's RPC wrappers
        self._closing: set[asyncio.Task[None]] = set()  # job updates of requests that ended badly

    # -- validation shared by the RPCs --------------------------------------------------------------------------

    def _audio_format(
        self, requested: audio_pb2.AudioFormat, field: str = "audio_format", default_sample_rate: int | None = None
    ) -> audio.ResolvedFormat:
        with request_errors():
            return audio.resolve_format(
                requested,
                default_sample_rate=default_sample_rate or self.settings.default_sample_rate,
                field_prefix=field,
            )

    def _soundfont(self, name: str) -> str:
        if not _SOUNDFONT_NAME.fullmatch(name):
            raise invalid_argument("soundfont", "a SoundFont name (letters, digits, ' _.+-', at most 128)")
        return name or self.settings.default_soundfont

    def _midi(self, midi: bytes) -> None:
        """What can be told without parsing; the fluidsynth model parses the file and names what is wrong."""
        if not midi:
            raise invalid_argument("midi", "empty: send a Standard MIDI File")
        if len(midi) > self.settings.max_midi_bytes:
            raise too_large("midi", f"{len(midi)} bytes is over the {self.settings.max_midi_bytes}-byte limit")

    # -- pipeline steps ----------------------------------------------------------------------------------------

    async def _compose(
        self, song: composer.SongRequest, scope: RequestScope, prompt_field: str = "prompt"
    ) -> pb.MidiResult:
        try:
            midi, metadata = await self.models.compose(song, deadline=scope.time_left(), request_id=scope.request_id)
        except ApiError as exc:
            if exc.field == "prompt" and prompt_field != "prompt":
                raise invalid_argument(prompt_field, exc.message.removeprefix("prompt: ")) from exc
            raise
        scope.log_fields["genre"] = metadata.get("genre")
        return song_info(midi, metadata)

    async def _render(
        self, midi: bytes, soundfont: str, fmt: audio.ResolvedFormat, stems: bool, scope: RequestScope
    ) -> Rendered:
        with scope.stage(pb.STAGE_RENDERING):
            return await self.models.render(
                midi,
                soundfont=soundfont,
                sample_rate=fmt.sample_rate,
                stems=stems,
                deadline=scope.time_left(),
                request_id=scope.request_id,
            )

    async def _audio_messages(
        self, name: str, samples: FloatAudio, fmt: audio.ResolvedFormat
    ) -> list[audio_pb2.AudioHeader | audio_pb2.AudioChunk]:
        # WAV/FLAC encoding of minutes of audio takes a while: keep it off the event loop.
        return await asyncio.to_thread(
            lambda: list(audio.stream_messages(name, samples, fmt, self.settings.chunk_bytes))
        )

    async def _start_job(self, scope: RequestScope, **fields: str | float) -> None:
        """Tracks the request as a job in Redis; however it ends, its job says so."""
        await self.jobs.update(scope.request_id, **fields)

        def close(code: grpc.StatusCode) -> None:
            if code != grpc.StatusCode.OK:  # success writes "done" with its timing itself
                task = asyncio.create_task(self.jobs.update(scope.request_id, state="failed", code=code.name))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

        scope.on_finish.append(close)

    def _recording(self) -> Recording:
        return Recording(self.settings.cache_max_entry_bytes)

    def _remember(self, key: str, events: Recording) -> None:
        """Caches in the background so the client's summary is not held up by the write; a repeat that arrives
        meanwhile waits for the write (see _cached_or_fresh)."""
        task = asyncio.create_task(self.cache.put(key, events))
        self._writing[key] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._writing.get(key) is done:  # a later write of the same key may have replaced it
                del self._writing[key]

        task.add_done_callback(forget)

    # -- RPCs --------------------------------------------------------------------------------------------------

    @unary_rpc("GenerateMidi")
    async def GenerateMidi(self, request: pb.GenerateMidiRequest, scope: RequestScope) -> pb.GenerateMidiResponse:
        songs = song_requests(request)
        # Sent as concurrent requests: Triton's dynamic batcher puts them into shared batches.
        with scope.stage(pb.STAGE_COMPOSING):
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(self._compose(song, scope, field)) for song, field in songs]
            except ExceptionGroup as failures:  # the first song that failed speaks for the call
                raise failures.exceptions[0] from None
        scope.log_fields["songs"] = len(songs)
        return pb.GenerateMidiResponse(songs=[task.result() for task in tasks])

    @streaming_rpc("Compose")
    async def Compose(self, request: pb.ComposeRequest, scope: RequestScope) -> AsyncIterator[pb.ComposeResponse]:
        song = song_request(request.prompt, request.options)
        fmt = self._audio_format(request.audio_format)
        soundfont = self._soundfont(request.soundfont)
        stems = request.stems if request.HasField("stems") else True
        separate_with = self._separation_model(request.separate, "separate") if request.separate else ""
        musicgen = self._generation_model(request.musicgen, "musicgen") if request.musicgen else ""
        params = analysis.transcription_params(request.transcription_options)
        key = cache_key(
            "compose",
            {
                "prompt": " ".join(song.prompt.split()),
                "options": {**dataclasses.asdict(song), "prompt": None},
                "soundfont": soundfont,
                "format": dataclasses.asdict(fmt),
                "stems": stems,
                "separate": separate_with,
                "musicgen": self.settings.musicgen_model if musicgen else None,
                "transcribe": dataclasses.asdict(params) if request.transcribe else None,
                "composer": composer.COMPOSER_VERSION,
            },
        )
        async for event in self._cached_or_fresh(key, request.bypass_cache, scope, pb.ComposeResponse):
            yield event
            if event.HasField("summary"):
                return

        await self._start_job(scope, rpc="Compose", state="composing", prompt=song.prompt[:200])
        yield pb.ComposeResponse(progress=_progress(_COMPOSE_PROGRESS, pb.STAGE_COMPOSING, "composing MIDI"))
        with scope.stage(pb.STAGE_COMPOSING):
            midi = await self._compose(song, scope)
        events = self._recording()
        events.append(midi_event := pb.ComposeResponse(midi=midi))
        yield midi_event

        await self.jobs.update(scope.request_id, state="rendering")
        yield pb.ComposeResponse(progress=_progress(_COMPOSE_PROGRESS, pb.STAGE_RENDERING, "rendering audio"))
        # Transcription hears each pitched track alone (never the drums), so it needs the stems even when the
        # client does not.
        rendered = await self._render(midi.midi, soundfont, fmt, stems or request.transcribe, scope)
        streams = [("", rendered.mix), *(rendered.stems.items() if stems else ())]
        extras = [name for name, wanted in (("separate", separate_with), ("transcribe", request.transcribe),
                                             ("musicgen", musicgen)) if wanted]  # fmt: skip
        span = (_COMPOSE_PROGRESS[pb.STAGE_STREAMING], 0.7 if extras else 1.0)
        async for event in self._stream_audio(streams, fmt, scope, span, pb.ComposeResponse, events):
            yield event
        share = 0.3 / max(len(extras), 1)
        spans = {name: (0.7 + share * i, 0.7 + share * (i + 1)) for i, name in enumerate(extras)}
        if separate_with:
            await self.jobs.update(scope.request_id, state="separating")
            async for event in self._separate_and_stream(
                rendered.mix, fmt, scope, spans["separate"], pb.ComposeResponse, events
            ):
                yield event
        if request.transcribe:
            await self.jobs.update(scope.request_id, state="transcribing")
            pitched = [
                (t.name, rendered.stems[t.name]) for t in midi.info.tracks if not t.is_drum and t.name in rendered.stems
            ]
            low, high = spans["transcribe"]
            for index, (name, samples) in enumerate(pitched):
                span = (low + (high - low) * index / len(pitched), low + (high - low) * (index + 1) / len(pitched))
                async for result in analysis.transcribe(
                    self.models, samples, fmt.sample_rate, params, scope,
                    max_seconds=self.settings.max_audio_seconds, stem_name=name, span=span,
                ):  # fmt: skip
                    if isinstance(result, pb.Progress):
                        yield pb.ComposeResponse(progress=result)
                    else:
                        events.append(transcribed := pb.ComposeResponse(transcription=result))
                        yield transcribed
        if musicgen:
            await self.jobs.update(scope.request_id, state="generating")
            seconds = min(midi.info.duration_seconds, self.settings.max_generate_seconds)
            sampling: dict[str, float | int] = {"seed": song.seed}
            # Only musicgen-melody follows a melody; the others take the prompt (and the song's length) alone.
            melody = (rendered.mix, fmt.sample_rate) if "melody" in self.settings.musicgen_model else None
            async for event in self._generate_and_stream(
                [song.prompt], seconds, sampling, melody, fmt, scope,
                spans["musicgen"], pb.ComposeResponse, events, names=[MUSICGEN],
            ):  # fmt: skip
                yield event
        if extras:
            yield pb.ComposeResponse(progress=pb.Progress(stage=pb.STAGE_STREAMING, fraction=1.0, message="done"))
        self._remember(key, events)
        await self.jobs.update(scope.request_id, state="done", seconds=scope.summary().total_seconds)
        yield pb.ComposeResponse(summary=scope.summary())

    @streaming_rpc("Render")
    async def Render(self, request: pb.RenderRequest, scope: RequestScope) -> AsyncIterator[pb.RenderResponse]:
        self._midi(request.midi)
        fmt = self._audio_format(request.audio_format)
        soundfont = self._soundfont(request.soundfont)
        key = cache_key(
            "render",
            {
                "midi": hashlib.sha256(request.midi).hexdigest(),
                "soundfont": soundfont,
                "format": dataclasses.asdict(fmt),
                "stems": request.stems,
            },
        )
        async for event in self._cached_or_fresh(key, request.bypass_cache, scope, pb.RenderResponse):
            yield event
            if event.HasField("summary"):
                return

        await self._start_job(scope, rpc="Render", state="rendering")
        yield pb.RenderResponse(progress=_progress(_RENDER_PROGRESS, pb.STAGE_RENDERING, "rendering audio"))
        rendered = await self._render(request.midi, soundfont, fmt, request.stems, scope)
        events = self._recording()
        streams = [("", rendered.mix), *rendered.stems.items()]
        span = (_RENDER_PROGRESS[pb.STAGE_STREAMING], 1.0)
        async for event in self._stream_audio(streams, fmt, scope, span, pb.RenderResponse, events):
            yield event
        self._remember(key, events)
        await self.jobs.update(scope.request_id, state="done", seconds=scope.summary().total_seconds)
        yield pb.RenderResponse(summary=scope.summary())

    @streaming_rpc("Transcribe")
    async def Transcribe(
        self, requests: AsyncIterator[pb.TranscribeRequest], scope: RequestScope
    ) -> AsyncIterator[pb.TranscribeResponse]:
        with scope.stage(pb.STAGE_RECEIVING):
            upload = await receive_audio(
                requests,
                pb.TranscriptionOptions(),
                max_bytes=self.settings.max_upload_bytes,
                check_options=analysis.transcription_params,
            )
        params = upload.options
        yield pb.TranscribeResponse(progress=pb.Progress(stage=pb.STAGE_RECEIVING, fraction=0.05, message="received"))
        async for event in analysis.transcribe(
            self.models, upload.samples, upload.sample_rate, params, scope,
            max_seconds=self.settings.max_audio_seconds, span=(0.05, 1.0),
        ):  # fmt: skip
            if isinstance(event, pb.Progress):
                yield pb.TranscribeResponse(progress=event)
            else:
                scope.log_fields["notes"] = len(event.notes)
                yield pb.TranscribeResponse(transcription=event)
        yield pb.TranscribeResponse(progress=pb.Progress(stage=pb.STAGE_TRANSCRIBING, fraction=1.0, message="done"))
        yield pb.TranscribeResponse(summary=scope.summary())

    @streaming_rpc("Separate")
    async def Separate(
        self, requests: AsyncIterator[pb.SeparateRequest], scope: RequestScope
    ) -> AsyncIterator[pb.SeparateResponse]:
        with scope.stage(pb.STAGE_RECEIVING):
            upload = await receive_audio(
                requests,
                pb.SeparationOptions(),
                max_bytes=self.settings.max_upload_bytes,
                check_options=self._separation_options,
            )
        fmt = upload.options
        seconds = upload.samples.shape[0] / upload.sample_rate
        if seconds > self.settings.max_audio_seconds:
            raise too_large("audio", f"{seconds:.0f} s is over the {self.settings.max_audio_seconds:g} s limit")
        yield pb.SeparateResponse(progress=pb.Progress(stage=pb.STAGE_RECEIVING, fraction=0.05, message="received"))
        async for event in self._separate_and_stream(
            upload.samples, fmt, scope, (0.05, 1.0), pb.SeparateResponse, None, sample_rate=upload.sample_rate
        ):
            yield event
        yield pb.SeparateResponse(summary=scope.summary())

    @streaming_rpc("GenerateAudio")
    async def GenerateAudio(
        self, request: pb.GenerateAudioRequest, scope: RequestScope
    ) -> AsyncIterator[pb.GenerateAudioResponse]:
        prompts = self._generation_prompts(request)
        self._generation_model(request.model, "model")
        seconds = request.seconds or DEFAULT_GENERATE_SECONDS
        if not 0 < seconds <= self.settings.max_generate_seconds:
            reason = f"must be above 0 and at most {self.settings.max_generate_seconds:g} s, got {seconds:g}"
            raise (too_large if seconds > 0 else invalid_argument)("seconds", reason)
        sampling = {
            name: getattr(request, name)
            for name in ("temperature", "top_k", "top_p", "cfg_coef", "seed")
            if request.HasField(name)
        }
        fmt = self._audio_format(request.audio_format, default_sample_rate=Musicgen.SAMPLE_RATE)
        melody = await self._melody(request, scope)
        key = None
        if request.HasField("seed"):  # unseeded generation draws a fresh seed: nothing to cache
            key = cache_key(
                "generate",
                {
                    "prompts": prompts,
                    "model": self.settings.musicgen_model,
                    "seconds": seconds,
                    "sampling": sampling,
                    "melody": None if melody is None else hashlib.sha256(melody[0].tobytes()).hexdigest(),
                    "format": dataclasses.asdict(fmt),
                },
            )
            async for event in self._cached_or_fresh(key, request.bypass_cache, scope, pb.GenerateAudioResponse):
                yield event
                if event.HasField("summary"):
                    return
        events = self._recording()
        async for event in self._generate_and_stream(
            prompts, seconds, sampling, melody, fmt, scope, (0.0, 1.0), pb.GenerateAudioResponse, events
        ):
            yield event
        if key is not None:
            self._remember(key, events)
        yield pb.GenerateAudioResponse(summary=scope.summary())

    def _generation_prompts(self, request: pb.GenerateAudioRequest) -> list[str]:
        prompts = [("prompt", request.prompt)] + [(f"more_prompts[{i}]", p) for i, p in enumerate(request.more_prompts)]
        if len(prompts) > MAX_PROMPTS_PER_GENERATION:
            raise too_large("more_prompts", f"at most {MAX_PROMPTS_PER_GENERATION} prompts per call")
        for field, prompt in prompts:
            if not prompt.strip():
                raise invalid_argument(field, "the prompt is empty; describe the music you want")
            if len(prompt) > composer.MAX_PROMPT_CHARS:
                raise too_large(field, f"{len(prompt)} characters is over {composer.MAX_PROMPT_CHARS}")
        return [prompt for _, prompt in prompts]

    def _generation_model(self, name: str, field: str) -> str:
        # "facebook/musicgen-small" (its Hugging Face name) is the same model as "musicgen-small".
        if name and name.removeprefix("facebook/") not in (MUSICGEN, self.settings.musicgen_model):
            raise invalid_argument(field, f"this server generates with {self.settings.musicgen_model}")
        return MUSICGEN

    async def _melody(self, request: pb.GenerateAudioRequest, scope: RequestScope) -> tuple[FloatAudio, int] | None:
        """The melody to follow: a decoded audio file, or a MIDI file rendered on the fluidsynth model."""
        if request.melody_audio and request.melody_midi:
            raise invalid_argument("melody_midi", "give melody_audio or melody_midi, not both")
        if request.melody_audio:
            header = audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV)  # any file soundfile reads
            with field_renamed("audio", "melody_audio"), request_errors():
                samples, rate = await asyncio.to_thread(audio.decode_upload, request.melody_audio, header)
            return samples, rate
        if request.melody_midi:
            with field_renamed("midi", "melody_midi"):
                self._midi(request.melody_midi)
                rendered = await self._render(
                    request.melody_midi, self.settings.default_soundfont, MELODY_FORMAT, False, scope
                )
            return rendered.mix, MELODY_FORMAT.sample_rate
        return None

    async def _generate_and_stream(
        self,
        prompts: list[str],
        seconds: float,
        sampling: dict[str, float | int],
        melody: tuple[FloatAudio, int] | None,
        fmt: audio.ResolvedFormat,
        scope: RequestScope,
        span: tuple[float, float],
        response_type: Any,
        record: Recording | None,
        names: list[str] | None = None,
    ) -> AsyncIterator[Any]:
        """Generates on the musicgen model with token progress and an estimate of the time left, then streams the
        clips (named by position, or by `names`)."""
        start, end = span
        middle = start + (end - start) * 0.9
        generated = None
        with scope.stage(pb.STAGE_GENERATING):
            began = time.perf_counter()
            stream = self.models.generate_audio(
                prompts, seconds, sampling, melody, deadline=scope.time_left(), request_id=scope.request_id
            )
            async for event in stream:
                if isinstance(event, Generated):
                    generated = event
                    continue
                fraction = event.done / event.total if event.total else 0.0
                elapsed = time.perf_counter() - began
                left = elapsed / fraction * (1 - fraction) if fraction > 0 else 0.0
                progress = pb.Progress(
                    stage=pb.STAGE_GENERATING,
                    fraction=start + (middle - start) * fraction,
                    message="generating",
                    done=event.done,
                    total=event.total,
                    seconds_left=left,
                )
                yield response_type(progress=progress)
        assert generated is not None  # the stream ends with the clips or raises
        labels = names or [str(index) for index in range(len(generated.clips))]
        streams = [
            (label, analysis.resample(clip, generated.sample_rate, fmt.sample_rate))
            for label, clip in zip(labels, generated.clips, strict=True)
        ]
        async for event in self._stream_audio(streams, fmt, scope, (middle, end), response_type, record):
            yield event

    @unary_rpc("ListModels")
    async def ListModels(self, request: pb.ListModelsRequest, scope: RequestScope) -> pb.ListModelsResponse:
        triton_port = int(self.settings.triton_url.rsplit(":", 1)[-1])
        memory = await asyncio.to_thread(model_memory, triton_port) if _is_local(self.settings.triton_url) else {}
        entries = await self.models.repository()
        # Probed side by side: each waits behind its model's running work, at most WEIGHTS_PROBE_SECONDS.
        probed = [e.name for e in entries if e.name in (DEMUCS, MUSICGEN) and e.state == "READY"]
        checks = dict(zip(probed, await asyncio.gather(*map(self.models.weights_check, probed)), strict=True))
        statuses = []
        for entry in entries:
            state = pb.MODEL_STATE_READY if entry.state == "READY" else pb.MODEL_STATE_UNAVAILABLE
            message = entry.reason
            if entry.state == "UNAVAILABLE" and entry.reason and "unloaded" not in entry.reason:
                state = pb.MODEL_STATE_FAILED
            if entry.name in checks:
                check = checks[entry.name]
                message = check.problem or ""
                state = pb.MODEL_STATE_WEIGHTS_MISSING if check.problem else state
                if check.busy:
                    message = f"busy (weights as last checked){': ' + message if message else ''}"
            statuses.append(
                pb.ModelStatus(
                    name=entry.name,
                    version=entry.version,
                    state=state,
                    message=message,
                    memory_bytes=memory.get(entry.name, 0),
                )
            )
        return pb.ListModelsResponse(models=statuses)

    def _separation_options(self, options: pb.SeparationOptions) -> audio.ResolvedFormat:
        """Checks the options of a Separate call; the format its stems are sent in."""
        self._separation_model(options.model, "options.model")
        return self._audio_format(options.audio_format, "options.audio_format")

    def _separation_model(self, name: str, field: str) -> str:
        served = (DEMUCS, self.settings.demucs_model)
        if name and name not in served:
            raise invalid_argument(field, f"this server separates with {DEMUCS} ({self.settings.demucs_model})")
        return DEMUCS

    async def _separate_and_stream(
        self,
        samples: FloatAudio,
        fmt: audio.ResolvedFormat,
        scope: RequestScope,
        span: tuple[float, float],
        response_type: Any,
        record: Recording | None,
        *,
        sample_rate: int | None = None,
    ) -> AsyncIterator[Any]:
        """Separates audio on the demucs model and streams its stems (as "demucs/<stem>" within Compose)."""
        start, end = span
        middle = start + (end - start) * 0.8
        separated = None
        async for event in analysis.separate(
            self.models, samples, sample_rate or fmt.sample_rate, scope, span=(start, middle)
        ):
            if isinstance(event, pb.Progress):
                yield response_type(progress=event)
            else:
                separated = event
        assert separated is not None  # analysis.separate ends with the stems or raises
        prefix = f"{DEMUCS}/" if response_type is pb.ComposeResponse else ""
        streams = [
            (f"{prefix}{name}", analysis.resample(stem, separated.sample_rate, fmt.sample_rate))
            for name, stem in separated.stems.items()
        ]
        async for event in self._stream_audio(streams, fmt, scope, (middle, end), response_type, record):
            yield event

    # -- streaming helpers shared by Compose and Render --------------------------------------------------------

    async def _cached_or_fresh(
        self, key: str, bypass: bool, scope: RequestScope, response_type: Any
    ) -> AsyncIterator[Any]:
        """Replays a cached result (then its summary) when there is one; yields nothing otherwise."""
        if bypass:
            return
        with scope.stage(pb.STAGE_CACHE):
            if (writing := self._writing.get(key)) is not None:
                await asyncio.wait([writing])  # its outcome is the write's own business (cache.put logs failures)
            cached = await self.cache.get(key)
        if cached is None:
            return
        scope.cache_hit = True
        yield response_type(progress=pb.Progress(stage=pb.STAGE_CACHE, fraction=0.0, message="from the cache"))
        for raw in cached:
            yield response_type.FromString(raw)
        yield response_type(progress=pb.Progress(stage=pb.STAGE_CACHE, fraction=1.0, message="done"))
        yield response_type(summary=scope.summary())

    async def _stream_audio(
        self,
        streams: list[tuple[str, FloatAudio]],
        fmt: audio.ResolvedFormat,
        scope: RequestScope,
        span: tuple[float, float],
        response_type: Any,
        record: Recording | None,
    ) -> AsyncIterator[Any]:
        """Streams each (name, audio) in turn, reporting progress per stream; records the events for the cache.
        Each stream is encoded as its turn comes, so a slow reader holds one encoded stream, not all of them."""
        with scope.stage(pb.STAGE_STREAMING):
            start, end = span
            total = sum(samples.shape[0] for _, samples in streams) or 1
            sent = 0
            for name, samples in streams:
                progress = pb.Progress(
                    stage=pb.STAGE_STREAMING,
                    fraction=start + (end - start) * sent / total,
                    message=f"sending {name or 'mix'}",
                )
                yield response_type(progress=progress)
                for message in await self._audio_messages(name, samples, fmt):
                    if isinstance(message, audio_pb2.AudioHeader):
                        event = response_type(audio_header=message)
                    else:
                        event = response_type(audio_chunk=message)
                    if record is not None:
                        record.append(event)
                    yield event
                sent += samples.shape[0]
            yield response_type(progress=pb.Progress(stage=pb.STAGE_STREAMING, fraction=end, message="sent"))


def _is_local(url: str) -> bool:
    return url.rsplit(":", 1)[0] in ("127.0.0.1", "localhost", "[::1]")


def _progress(plan: dict[pb.Stage, float], stage: pb.Stage, message: str) -> pb.Progress:
    return pb.Progress(stage=stage, fraction=plan[stage], message=message)
