"""dgxmusic.v1.MusicService: each RPC checks its request (gateway.validation), then runs as a short sequence of
stages - compose (text2midi), render (fluidsynth), separate (demucs), transcribe (basic_pitch), generate (musicgen),
stream - whose responses gateway.streaming writes, serves repeats from the Redis cache, and keeps each finished result
in the library (gateway.library)."""

import asyncio
import dataclasses
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

import composer
import renderers
import transcriber
from deploy import triton_url
from deploy.settings import Settings
from dgxmusic import audio, catalog
from dgxmusic.audio import FloatAudio, ResolvedFormat
from dgxmusic.models import BASIC_PITCH, DEMUCS, FLUIDSYNTH, MUSICGEN, Musicgen
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1 import music_service_pb2_grpc as pb_grpc
from gateway import analysis, validation
from gateway.auth import DailyQuota, Gate
from gateway.cache import CachedResults, ResultCache, cache_key
from gateway.errors import ApiError, field_renamed, invalid_argument, request_errors
from gateway.library import Finished, Library, Recorded, Result
from gateway.memory import model_memory
from gateway.progress import RECEIVED, RENDER_PLAN, WHOLE, ComposePlan, Span, compose_plan
from gateway.readiness import Need, Readiness
from gateway.scope import Admission, RequestScope, owner_tag, streaming_rpc, unary_rpc
from gateway.songs import song_info
from gateway.soundfont_uploads import receive_soundfont
from gateway.streaming import A, FailedStages, R, ResponseStream, T
from gateway.triton import (
    DEMUCS_DEFAULTS,
    DemucsOptions,
    Generated,
    ModelEntry,
    Models,
    Rendered,
    TokenProgress,
    WeightsCheck,
)
from gateway.uploads import UploadHold, UploadMemory, receive_audio

MELODY_FORMAT = audio.ResolvedFormat(
    Musicgen.SAMPLE_RATE, audio_pb2.SAMPLE_FORMAT_FLOAT32, audio_pb2.AUDIO_ENCODING_PCM
)


@dataclasses.dataclass(frozen=True)
class Generation:
    """What the musicgen model is asked for."""

    prompts: list[str]
    seconds: float
    sampling: dict[str, float | int]
    melody: tuple[FloatAudio, int] | None  # the melody to follow, at its sample rate
    model: str = ""  # the MusicGen model; "" for the server's
    continued: tuple[FloatAudio, int] | None = None  # audio to continue, at its sample rate
    adapter: str = ""  # the fine-tuned adapter; "" for the base model
    owner: str = ""  # whose adapter it is: the caller's owner tag (gateway.scope.owner_tag)


class MusicService(pb_grpc.MusicServiceServicer):  # type: ignore[misc]  # untyped generated base
    def __init__(self, settings: Settings, models: Models, cache: ResultCache, library: Library | None = None) -> None:
        self.settings = settings
        self.models = models
        self.results = CachedResults(cache)
        self.library = library if library is not None else Library(settings)
        self.readiness = Readiness(models, settings.models)
        # Read by scope's RPC wrappers.
        self.gate = Gate(settings.api_keys)
        self.upload_memory = UploadMemory(settings.max_upload_memory_bytes)
        self.admission = Admission(settings.max_concurrent_rpcs, settings.max_concurrent_rpcs_per_caller)
        self.quota = DailyQuota(cache.client, settings.api_keys, cache.guard)

    # -- RPCs --------------------------------------------------------------------------------------------------

    @unary_rpc("GenerateMidi")
    async def GenerateMidi(self, request: pb.GenerateMidiRequest, scope: RequestScope) -> pb.GenerateMidiResponse:
        songs = validation.generate_midi(request)
        scope.log_fields["songs"] = len(songs)
        # Sent as concurrent requests: Triton's dynamic batcher puts them into shared batches.
        with scope.stage(pb.STAGE_COMPOSING):
            if len(songs) == 1:  # the usual call: no task group to set up
                results = [await self._compose(songs[0].request, scope)]
            else:
                try:
                    async with asyncio.TaskGroup() as group:
                        tasks = [
                            group.create_task(self._compose(song.request, scope, song.prompt_field)) for song in songs
                        ]
                except ExceptionGroup as failures:  # the first song that failed speaks for the call
                    raise failures.exceptions[0] from None
                results = [task.result() for task in tasks]
        for song, result in zip(songs, results, strict=True):  # each song an item of its own
            self._keep(request, scope, [pb.GenerateMidiResponse(songs=[result])], song.request.prompt)
        return pb.GenerateMidiResponse(songs=results)

    @streaming_rpc("Compose")
    async def Compose(self, request: pb.ComposeRequest, scope: RequestScope) -> AsyncIterator[pb.ComposeResponse]:
        call = validation.compose(request, self.settings)
        key = _compose_key(call, self.settings.musicgen_model)
        out = self._responses(pb.ComposeResponse, scope, cached=True)
        if (cached := await self._cached(key, request.bypass_cache, scope)) is not None:
            for event in out.replay(cached):
                yield event
            return

        # The stages after the song's own need their models ready: refused now, before any work, rather than after.
        await self.readiness.require(_compose_needs(call))
        plan = compose_plan(call.extras)
        yield out.progress(pb.STAGE_COMPOSING, plan.composing, "composing MIDI")
        with scope.stage(pb.STAGE_COMPOSING):
            midi = await self._compose(call.song, scope)
        yield out.recorded(pb.ComposeResponse(midi=midi))

        # From here on what was sent is kept: a stage that fails is told beside it (FailedStages), the stages that
        # do not need it still run, and the call ends with its status after the Summary.
        failed = FailedStages(out)
        yield out.progress(pb.STAGE_RENDERING, plan.rendering, "rendering audio")
        # Transcription hears each pitched track alone (never the drums), so it needs the stems even when the
        # client does not.
        stems = call.stems or call.transcription is not None
        rendered = None
        try:
            rendered = await self._render(midi.midi, call, stems, scope)
        except Exception as exc:  # the MIDI sent stays the call's result
            yield failed.add(pb.STAGE_RENDERING, "", exc)
        if rendered is not None:
            streams = [("", rendered.mix), *(rendered.stems.items() if call.stems else ())]
            async for event in out.audio(streams, call.audio_format, plan.streaming):
                yield event
            async for event in self._compose_extras(out, call, midi, rendered, plan, failed):
                yield event
        if failed.stages:
            yield out.summary(failed.stages)
            raise failed.first_error
        self._remember(out, key, request, call.song.prompt)
        yield out.summary()

    @streaming_rpc("Render")
    async def Render(self, request: pb.RenderRequest, scope: RequestScope) -> AsyncIterator[pb.RenderResponse]:
        call = validation.render(request, self.settings)
        key = _render_key(call)
        out = self._responses(pb.RenderResponse, scope, cached=True)
        if (cached := await self._cached(key, request.bypass_cache, scope)) is not None:
            for event in out.replay(cached):
                yield event
            return

        yield out.progress(pb.STAGE_RENDERING, RENDER_PLAN.rendering, "rendering audio")
        rendered = await self._render(call.midi, call, call.stems, scope)
        streams = [("", rendered.mix), *rendered.stems.items()]
        async for event in out.audio(streams, call.audio_format, RENDER_PLAN.streaming):
            yield event
        self._remember(out, key, request)
        yield out.summary()

    @streaming_rpc("Transcribe")
    async def Transcribe(
        self, requests: AsyncIterator[pb.TranscribeRequest], scope: RequestScope
    ) -> AsyncIterator[pb.TranscribeResponse]:
        with scope.stage(pb.STAGE_RECEIVING):
            upload = await receive_audio(
                requests,
                pb.TranscriptionOptions(),
                max_bytes=self.settings.max_upload_bytes,
                idle_seconds=self.settings.upload_idle_seconds,
                hold=self._upload_hold(scope),
                check_options=validation.transcription_params,
            )
        out = self._responses(pb.TranscribeResponse, scope, cached=False)
        yield out.progress(pb.STAGE_RECEIVING, RECEIVED, "received")
        transcribing = self._transcribe(out, upload.samples, upload.sample_rate, upload.options, Span(RECEIVED, 1.0))
        async for event in transcribing:
            if event.HasField("transcription"):
                scope.log_fields["notes"] = len(event.transcription.notes)
            yield event
        yield out.progress(pb.STAGE_TRANSCRIBING, 1.0, "done")
        self._remember(out, None, upload.options)
        yield out.summary()

    @streaming_rpc("Separate")
    async def Separate(
        self, requests: AsyncIterator[pb.SeparateRequest], scope: RequestScope
    ) -> AsyncIterator[pb.SeparateResponse]:
        with scope.stage(pb.STAGE_RECEIVING):
            upload = await receive_audio(
                requests,
                pb.SeparationOptions(),
                max_bytes=self.settings.max_upload_bytes,
                idle_seconds=self.settings.upload_idle_seconds,
                hold=self._upload_hold(scope),
                check_options=lambda options: validation.separate(options, self.settings),
            )
        validation.check_separation_length(upload.samples, upload.sample_rate, self.settings)
        out = self._responses(pb.SeparateResponse, scope, cached=False)
        yield out.progress(pb.STAGE_RECEIVING, RECEIVED, "received")
        call = upload.options
        separating = self._separate(
            out, upload.samples, upload.sample_rate, call.audio_format, Span(RECEIVED, 1.0), options=call.demucs
        )
        async for event in separating:
            yield event
        self._remember(out, None, upload.options)
        yield out.summary()

    @streaming_rpc("GenerateAudio")
    async def GenerateAudio(
        self, request: pb.GenerateAudioRequest, scope: RequestScope
    ) -> AsyncIterator[pb.GenerateAudioResponse]:
        call = validation.generate_audio(request, self.settings)
        # A melody given as MIDI is rendered first: refused before that when MusicGen cannot run.
        needs = [Need("model", MUSICGEN, call.model)]
        if call.melody_midi:
            needs.append(Need("melody_midi", FLUIDSYNTH))
        await self.readiness.require(needs)
        generation = Generation(
            call.prompts,
            call.seconds,
            call.sampling,
            await self._melody(call, scope),
            call.model,
            await self._continued(call),
            call.adapter,
            owner_tag(scope.key_name),
        )
        # Unseeded generation draws a fresh seed: nothing to cache.
        key = _generation_key(generation, call.audio_format, self.settings.musicgen_model) if call.seeded else None
        out = self._responses(pb.GenerateAudioResponse, scope, cached=key is not None)
        if (cached := await self._cached(key, request.bypass_cache, scope)) is not None:
            for event in out.replay(cached):
                yield event
            return

        async for event in self._generate(out, generation, call.audio_format, WHOLE):
            yield event
        self._remember(out, key, request, " / ".join(call.prompts))
        yield out.summary()

    @unary_rpc("UploadSoundFont")
    async def UploadSoundFont(
        self, requests: AsyncIterator[pb.UploadSoundFontRequest], scope: RequestScope
    ) -> pb.UploadSoundFontResponse:
        with scope.stage(pb.STAGE_RECEIVING):
            response = await receive_soundfont(
                requests,
                directory=self.settings.soundfont_upload_dir,
                max_bytes=self.settings.max_soundfont_bytes,
                max_store_bytes=self.settings.max_soundfont_store_bytes,
                idle_seconds=self.settings.upload_idle_seconds,
            )
        scope.log_fields["soundfont"] = response.soundfont
        scope.log_fields["already_stored"] = response.already_stored
        return response

    @unary_rpc("ListModels", quota=False)
    async def ListModels(self, request: pb.ListModelsRequest, scope: RequestScope) -> pb.ListModelsResponse:
        triton_port = triton_url.parse(self.settings.triton_url).local_port
        memory = await asyncio.to_thread(model_memory, triton_port) if triton_port is not None else {}
        entries = await self.models.repository()
        # Probed side by side: each waits behind its model's running work, at most WEIGHTS_PROBE_SECONDS.
        probed = [e.name for e in entries if e.name in (DEMUCS, MUSICGEN) and e.state == "READY"]
        checks = dict(zip(probed, await asyncio.gather(*map(self.models.weights_check, probed)), strict=True))
        catalogs = dict(zip(probed, await asyncio.gather(*map(self.models.catalog, probed)), strict=True))
        statuses = []
        for entry in entries:
            statuses.append(_model_status(entry, checks.get(entry.name), memory.get(entry.name, 0)))
            # Then each separation or MusicGen model the Triton model serves.
            statuses += [_served_status(entry.name, served) for served in catalogs.get(entry.name, [])]
        # The caller's own adapters: another's are none of its business.
        owner = owner_tag(scope.key_name)
        served = await self.models.adapters() if MUSICGEN in probed else []
        adapters = [adapter for adapter in served if adapter.recipe.get("owner", "") == owner]
        return pb.ListModelsResponse(models=statuses, adapters=[adapter_message(a) for a in adapters])

    @unary_rpc("ListInstruments", quota=False)
    async def ListInstruments(
        self, request: pb.ListInstrumentsRequest, scope: RequestScope
    ) -> pb.ListInstrumentsResponse:
        found = await self.models.instruments(deadline=scope.time_left(), request_id=scope.request_id)
        return json_format.ParseDict(found, pb.ListInstrumentsResponse(), ignore_unknown_fields=True)

    # -- stages ------------------------------------------------------------------------------------------------

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
        self,
        midi: bytes,
        sound: validation.RenderCall | validation.ComposeCall,
        stems: bool,
        scope: RequestScope,
    ) -> Rendered:
        """`midi` rendered as `sound`'s SoundFont, mixing and instruments say."""
        with scope.stage(pb.STAGE_RENDERING):
            return await self.models.render(
                midi,
                soundfont=sound.soundfont,
                sample_rate=sound.audio_format.sample_rate,
                stems=stems,
                deadline=scope.time_left(),
                request_id=scope.request_id,
                mixing=sound.mixing,
                instruments=sound.instruments.to_json() if sound.instruments is not None else "",
            )

    async def _compose_extras(
        self,
        out: ResponseStream[pb.ComposeResponse],
        call: validation.ComposeCall,
        midi: pb.MidiResult,
        rendered: Rendered,
        plan: ComposePlan,
        failed: FailedStages[pb.ComposeResponse],
    ) -> AsyncIterator[pb.ComposeResponse]:
        """What Compose does with the song besides streaming it: separate its mix, transcribe its pitched tracks,
        generate audio from its prompt (and melody). Each runs on the song alone, so one failing (told by `failed`)
        leaves the others to run."""
        fmt = call.audio_format
        if call.separate:
            separating = self._separate(
                out,
                rendered.mix,
                fmt.sample_rate,
                fmt,
                plan.extras["separate"],
                f"{DEMUCS}/",
                options=DemucsOptions(call.separate_model),
            )
            async for event in failed.kept(pb.STAGE_SEPARATING, "separate", separating):
                yield event
        if call.transcription is not None:
            transcribing = self._transcribe_tracks(
                out, call.transcription, midi, rendered, fmt, plan.extras["transcribe"]
            )
            async for event in failed.kept(pb.STAGE_TRANSCRIBING, "transcribe", transcribing):
                yield event
        if call.musicgen:
            seconds = min(midi.info.duration_seconds, self.settings.max_generate_seconds)
            # Only musicgen-melody follows a melody; the others take the prompt (and the song's length) alone.
            model = call.musicgen_model or self.settings.musicgen_model
            melody = (rendered.mix, fmt.sample_rate) if "melody" in model else None
            generation = Generation(
                [call.song.prompt],
                seconds,
                {"seed": call.song.seed},
                melody,
                call.musicgen_model,
                adapter=call.adapter,
                owner=owner_tag(out.scope.key_name),
            )
            generating = self._generate(out, generation, fmt, plan.extras["musicgen"], names=[MUSICGEN])
            async for event in failed.kept(pb.STAGE_GENERATING, "musicgen", generating):
                yield event
        if call.extras:
            yield out.progress(pb.STAGE_STREAMING, 1.0, "done")

    async def _transcribe_tracks(
        self,
        out: ResponseStream[pb.ComposeResponse],
        params: transcriber.TranscriptionParams,
        midi: pb.MidiResult,
        rendered: Rendered,
        fmt: ResolvedFormat,
        span: Span,
    ) -> AsyncIterator[pb.ComposeResponse]:
        """Each pitched track of the song (never the drums), heard alone in its stem, transcribed in turn."""
        pitched = [
            (t.name, rendered.stems[t.name]) for t in midi.info.tracks if not t.is_drum and t.name in rendered.stems
        ]
        for index, (name, samples) in enumerate(pitched):
            part = span.part(index, len(pitched))
            async for event in self._transcribe(out, samples, fmt.sample_rate, params, part, name):
                yield event

    async def _separate(
        self,
        out: ResponseStream[A],
        samples: FloatAudio,
        sample_rate: int,
        fmt: ResolvedFormat,
        span: Span,
        prefix: str = "",
        *,
        options: DemucsOptions = DEMUCS_DEFAULTS,
    ) -> AsyncIterator[A]:
        """Separates audio on the demucs model (the model and options a call chose), then streams its stems (named
        `prefix` + the stem) in `fmt`."""
        separating, streaming = span.split(0.8)
        separated = None
        separation = analysis.separate(self.models, samples, sample_rate, out.scope, span=separating, options=options)
        async for event in separation:
            if isinstance(event, pb.Progress):
                yield out.progress_of(event)
            else:
                separated = event
        assert separated is not None  # analysis.separate ends with the stems or raises
        streams = [
            (f"{prefix}{name}", analysis.resample(stem, separated.sample_rate, fmt.sample_rate))
            for name, stem in separated.stems.items()
        ]
        async for response in out.audio(streams, fmt, streaming):
            yield response

    async def _transcribe(
        self,
        out: ResponseStream[T],
        samples: FloatAudio,
        sample_rate: int,
        params: transcriber.TranscriptionParams,
        span: Span,
        stem_name: str = "",
    ) -> AsyncIterator[T]:
        transcribing = analysis.transcribe(
            self.models,
            samples,
            sample_rate,
            params,
            out.scope,
            max_seconds=self.settings.max_audio_seconds,
            stem_name=stem_name,
            span=span,
        )
        async for event in transcribing:
            yield out.progress_of(event) if isinstance(event, pb.Progress) else out.transcription(event)

    async def _generate(
        self,
        out: ResponseStream[A],
        generation: Generation,
        fmt: ResolvedFormat,
        span: Span,
        names: list[str] | None = None,
    ) -> AsyncIterator[A]:
        """Generates on the musicgen model with token progress and an estimate of the time left, then streams the
        clips (named by position, or by `names`)."""
        scope = out.scope
        generating, streaming = span.split(0.9)
        generated = None
        with scope.stage(pb.STAGE_GENERATING):
            began = time.perf_counter()
            stream = self.models.generate_audio(
                generation.prompts,
                generation.seconds,
                generation.sampling,
                generation.melody,
                deadline=scope.time_left(),
                request_id=scope.request_id,
                model=generation.model,
                continued=generation.continued,
                adapter=generation.adapter,
                owner=generation.owner,
            )
            async for event in stream:
                if isinstance(event, Generated):
                    generated = event
                else:
                    yield out.progress_of(_generation_progress(event, time.perf_counter() - began, generating))
        assert generated is not None  # the stream ends with the clips or raises
        labels = names or [str(index) for index in range(len(generated.clips))]
        streams = [
            (label, analysis.resample(clip, generated.sample_rate, fmt.sample_rate))
            for label, clip in zip(labels, generated.clips, strict=True)
        ]
        async for response in out.audio(streams, fmt, streaming):
            yield response

    async def _continued(self, call: validation.GenerateAudioCall) -> tuple[FloatAudio, int] | None:
        """The audio a generation continues, decoded."""
        if not call.continue_audio:
            return None
        header = audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV)  # any file soundfile reads
        with field_renamed("audio", "continue_audio"), request_errors():
            return await asyncio.to_thread(audio.decode_upload, call.continue_audio, header)

    async def _melody(self, call: validation.GenerateAudioCall, scope: RequestScope) -> tuple[FloatAudio, int] | None:
        """The melody to follow: a decoded audio file, or a MIDI file rendered on the fluidsynth model."""
        if call.melody_audio:
            header = audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV)  # any file soundfile reads
            with field_renamed("audio", "melody_audio"), request_errors():
                return await asyncio.to_thread(audio.decode_upload, call.melody_audio, header)
        if call.melody_midi:
            with field_renamed("midi", "melody_midi"):
                melody = validation.RenderCall(call.melody_midi, self.settings.default_soundfont, MELODY_FORMAT, False)
                rendered = await self._render(melody.midi, melody, False, scope)
            return rendered.mix, MELODY_FORMAT.sample_rate
        return None

    # -- the call around the stages ----------------------------------------------------------------------------

    async def _cached(self, key: str | None, bypass: bool, scope: RequestScope) -> list[bytes] | None:
        """The events of the call's cached result; None when there is none, or it is not to be looked up."""
        if key is None or bypass:
            return None
        with scope.stage(pb.STAGE_CACHE):
            return await self.results.find(key)

    def _upload_hold(self, scope: RequestScope) -> UploadHold:
        """The call's share of the uploads' memory, given back when the call ends, however it ends."""
        hold = self.upload_memory.hold()
        scope.on_finish.append(lambda code: hold.release())
        return hold

    def _responses(self, response: type[R], scope: RequestScope, *, cached: bool) -> ResponseStream[R]:
        """The writer of a call's responses; recording its result when the result is `cached` or kept in the
        library."""
        limits = [self.settings.cache_max_entry_bytes] if cached else []
        if self.library.configured:
            limits.append(self.settings.library_max_item_bytes)
        recording = self.results.cache.recording(max(limits)) if limits else None
        return ResponseStream(response, scope, chunk_bytes=self.settings.chunk_bytes, recording=recording)

    def _remember(self, out: ResponseStream[R], key: str | None, request: Message | Any, prompt: str = "") -> None:
        """Caches the result the call recorded under `key` (None: a result not to be cached), and keeps it in the
        library; each lets the recording go when done with it (the library reads it after the cache wrote it)."""
        recording = out.recording
        if recording is None:
            return
        kept = self.library.configured and not recording.overflowed
        if recording.overflowed:
            out.scope.log_fields["library"] = "too large to keep"
        if kept:
            recording.use()
        writing = None
        if key is not None:
            if recording.size <= self.settings.cache_max_entry_bytes:
                recording.use()
                writing = self.results.remember(key, recording)
            else:  # recorded for the library's larger limit
                out.scope.log_fields["cached"] = "too large"
        if kept:
            self._keep(request, out.scope, Recorded(out.response.__name__, recording, writing), prompt)

    def _keep(self, request: Message | Any, scope: RequestScope, result: Result, prompt: str = "") -> None:
        """Keeps a finished result in the library, as its caller's; `request` is the call's message, or for an
        upload the options it was read into (a dataclass)."""
        if not self.library.configured:
            return
        finished = Finished(scope.method, scope.key_name or "", request, prompt, result, scope.summary())
        self.library.keep(finished)


def _compose_key(call: validation.ComposeCall, musicgen_model: str) -> str:
    song = call.song
    return cache_key(
        "compose",
        {
            "prompt": " ".join(song.prompt.split()),
            "options": {**dataclasses.asdict(song), "prompt": None},
            "soundfont": call.soundfont,
            "format": dataclasses.asdict(call.audio_format),
            "stems": call.stems,
            "separate": (call.separate_model or DEMUCS) if call.separate else "",
            "musicgen": (call.musicgen_model or musicgen_model) if call.musicgen else None,
            # A different adapter makes different audio (a name retrained meanwhile is the cache's TTL to outlive).
            "adapter": call.adapter,
            "transcribe": None if call.transcription is None else dataclasses.asdict(call.transcription),
            "mixing": dataclasses.asdict(call.mixing),
            "instruments": call.instruments.to_json() if call.instruments is not None else "",
            "composer": composer.COMPOSER_VERSION,
            "renderer": renderers.RENDERER_VERSION,
        },
    )


def _compose_needs(call: validation.ComposeCall) -> list[Need]:
    """The models of Compose's stages after the song's own, each with the field that asks for it."""
    asked = {
        "separate": (call.separate, DEMUCS, call.separate_model),
        "transcribe": (call.transcription is not None, BASIC_PITCH, ""),
        "musicgen": (call.musicgen, MUSICGEN, call.musicgen_model),
    }
    return [Need(field, model, name) for field, (wanted, model, name) in asked.items() if wanted]


def _render_key(call: validation.RenderCall) -> str:
    return cache_key(
        "render",
        {
            "midi": hashlib.sha256(call.midi).hexdigest(),
            "soundfont": call.soundfont,
            "format": dataclasses.asdict(call.audio_format),
            "stems": call.stems,
            "mixing": dataclasses.asdict(call.mixing),
            "instruments": call.instruments.to_json() if call.instruments is not None else "",
            "renderer": renderers.RENDERER_VERSION,
        },
    )


def _generation_key(generation: Generation, fmt: ResolvedFormat, musicgen_model: str) -> str:
    melody, continued = generation.melody, generation.continued
    return cache_key(
        "generate",
        {
            "prompts": generation.prompts,
            "model": generation.model or musicgen_model,
            "adapter": generation.adapter,
            "owner": generation.owner if generation.adapter else "",  # an adapter's name is its owner's
            "seconds": generation.seconds,
            "sampling": generation.sampling,
            "melody": None if melody is None else hashlib.sha256(melody[0].tobytes()).hexdigest(),
            "continued": None if continued is None else hashlib.sha256(continued[0].tobytes()).hexdigest(),
            "format": dataclasses.asdict(fmt),
        },
    )


def _generation_progress(tokens: TokenProgress, elapsed: float, span: Span) -> pb.Progress:
    """Tokens generated so far, and the seconds left at the pace so far."""
    fraction = tokens.done / tokens.total if tokens.total else 0.0
    left = elapsed / fraction * (1 - fraction) if fraction > 0 else 0.0
    return pb.Progress(
        stage=pb.STAGE_GENERATING,
        fraction=span.at(fraction),
        message="generating",
        done=tokens.done,
        total=tokens.total,
        seconds_left=left,
    )


def _model_status(entry: ModelEntry, check: WeightsCheck | None, memory_bytes: int) -> pb.ModelStatus:
    """A model's state as Triton tells it, with what its weights probe (`check`, for demucs and musicgen) said."""
    state = pb.MODEL_STATE_READY if entry.state == "READY" else pb.MODEL_STATE_UNAVAILABLE
    message = entry.reason
    if entry.state == "UNAVAILABLE" and entry.reason and "unloaded" not in entry.reason:
        state = pb.MODEL_STATE_FAILED
    if check is not None:
        message = check.problem or ""
        state = pb.MODEL_STATE_WEIGHTS_MISSING if check.problem else state
        if check.busy:
            message = f"busy (weights as last checked){': ' + message if message else ''}"
    return pb.ModelStatus(
        name=entry.name, version=entry.version, state=state, message=message, memory_bytes=memory_bytes
    )


_SERVED_STATES = {
    catalog.State.READY: pb.MODEL_STATE_READY,
    catalog.State.LOADED: pb.MODEL_STATE_LOADED,
    catalog.State.WEIGHTS_MISSING: pb.MODEL_STATE_WEIGHTS_MISSING,
}


def adapter_message(entry: catalog.AdapterEntry) -> pb.Adapter:
    created = Timestamp()
    created.FromNanoseconds(int(entry.created * 1e9))
    return pb.Adapter(
        name=entry.name,
        base_model=entry.base_model,
        create_time=created,
        base_validation_loss=entry.base_validation_loss,
        adapter_validation_loss=entry.adapter_validation_loss,
        steps=entry.steps,
        training_chunks=entry.training_chunks,
        validation_chunks=entry.validation_chunks,
        recipe_json=json.dumps(entry.recipe, sort_keys=True),
    )


def _served_status(served_by: str, entry: catalog.Entry) -> pb.ModelStatus:
    """A separation or MusicGen model as the Triton model serving it tells it."""
    return pb.ModelStatus(
        name=entry.name,
        state=_SERVED_STATES[entry.state],
        message=entry.message,
        served_by=served_by,
        is_default=entry.default,
    )
