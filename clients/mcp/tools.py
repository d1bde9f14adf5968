"""The MCP tools: compose, generate_midi, render, transcribe, separate, generate_audio, list_models and
list_instruments, each one call
of the typed client (AsyncMusicClient), and the Ardour ones, through the OSC bridge to a running Ardour. A call's
results go to a new folder under the output folder and are answered as their paths with the stack's metadata; a
failure is a tool error that carries the gRPC status and the fields at fault, as the typed client raised it."""

import asyncio
import functools
import math
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar

import anyio
import anyio.to_thread
import grpc
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from clients import client as typed
from clients.errors import (
    AuthenticationError,
    DgxMusicError,
    FieldViolation,
    InvalidRequestError,
    NotFoundError,
    faults_told,
)
from clients.mcp import results
from dgxmusic.audio import FILE_ENCODINGS, AudioFormatError
from dgxmusic.v1 import library_pb2
from dgxmusic.v1 import music_service_pb2 as pb

_ResultT = TypeVar("_ResultT", bound=BaseModel)
_T = TypeVar("_T")
Ctx = Context[Any, Any]
# The results Ardour can still be given: the latest few, by result id (each holds its audio in memory).
HELD_RESULTS = 8
_BEARER = re.compile(r"bearer\s+(\S+)\s*$", re.IGNORECASE)
_MIDI_SUFFIXES = {".mid", ".midi"}


class Ardour(Protocol):
    """What the tools ask of a running Ardour (clients.ardour.bridge.ArdourBridge)."""

    def place(self, plan: Any, *, bar: int | None = None) -> dict[str, Any]: ...

    def tracks(self) -> list[dict[str, Any]]: ...

    def markers(self) -> list[dict[str, Any]]: ...

    def set_tempo(self, bpm: float, *, bar: int = 0) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class HeldResult:
    """A result kept for ardour_import: what made it (compose, transcribe, separate, generate, render), the typed
    client's result, its folder and its title."""

    action: str
    result: typed.JobResult
    folder: Path
    title: str


@dataclass
class ToolConfig:
    """How the tools reach the stack and where they write.

    ``connect(key)`` gives a client that calls with API key ``key`` (None: the one the server was started with).
    With ``callers_bring_keys`` (HTTP beyond loopback) every call must carry its caller's own key as a bearer
    token, which is forwarded to the gateway to be checked there, and input files must lie under ``out_dir``.
    ``ardour`` reaches the running Ardour; ``import_plan(held, folder)`` writes what of a result lands in a session
    into ``folder`` and returns its ImportPlan."""

    out_dir: Path
    connect: Callable[[str | None], typed.AsyncMusicClient]
    ardour: Callable[[], Ardour]
    import_plan: Callable[[HeldResult, Path], Any]
    callers_bring_keys: bool = False
    held: OrderedDict[str, HeldResult] = field(default_factory=OrderedDict)

    def hold(self, held: HeldResult) -> None:
        self.held[held.folder.name] = held
        while len(self.held) > HELD_RESULTS:
            self.held.popitem(last=False)


def error_result(error: DgxMusicError) -> CallToolResult:
    """A tool error that says what the typed client's exception says: the gRPC status, the message, the fields at
    fault and how long to wait before trying again; as text for the model and as structured content."""
    headline, fields = faults_told(error)
    lines = [f"{error.code.name}: {headline}", *fields]
    if error.retry_delay is not None:
        lines.append(f"retry in {error.retry_delay:.1f} s")
    structured = {
        "code": error.code.name,
        "message": error.message,
        "violations": [{"field": v.field, "description": v.description} for v in error.violations],
        "retry_delay": error.retry_delay,
    }
    return CallToolResult(
        content=[TextContent(type="text", text="\n".join(lines))], structured_content=structured, is_error=True
    )


def _invalid(field_name: str, reason: str) -> InvalidRequestError:
    return InvalidRequestError(grpc.StatusCode.INVALID_ARGUMENT, reason, (FieldViolation(field_name, reason),))


async def answer(work: Awaitable[_ResultT]) -> CallToolResult:
    """The tool's result, or its failure as a tool error."""
    try:
        found = await work
    except DgxMusicError as exc:
        return error_result(exc)
    except AudioFormatError as exc:  # the typed client refused the input before sending it
        return error_result(_invalid(exc.field, exc.reason))
    except OSError as exc:  # writing the results
        return error_result(DgxMusicError(grpc.StatusCode.INTERNAL, f"could not write the results: {exc}"))
    return CallToolResult(
        content=[TextContent(type="text", text=found.model_dump_json(indent=2))],
        structured_content=found.model_dump(mode="json"),
    )


def caller_key(ctx: Ctx, config: ToolConfig) -> str | None:
    """The API key to call the gateway with: the caller's bearer token over HTTP, else the server's own (None)."""
    headers = ctx.headers or {}
    matched = _BEARER.match(headers.get("authorization", ""))
    if matched is not None:
        return matched.group(1)
    if config.callers_bring_keys:
        raise AuthenticationError(grpc.StatusCode.UNAUTHENTICATED, "send your API key: 'Authorization: Bearer <key>'")
    return None


@asynccontextmanager
async def progress_reported(ctx: Ctx) -> AsyncIterator[typed.ProgressCallback]:
    """An on_progress for the typed client that reports each event, in order, as MCP progress (when the caller
    asked for it): the client calls it synchronously, the notifications are sent by a task of their own."""
    send, receive = anyio.create_memory_object_stream[pb.Progress](math.inf)

    async def forward() -> None:
        async with receive:
            async for event in receive:
                message = event.message or pb.Stage.Name(event.stage).removeprefix("STAGE_").lower()
                if event.total:  # MusicGen counts tokens and estimates the time left
                    message = f"{message} {event.done}/{event.total} ~{event.seconds_left:.0f} s left"
                await ctx.report_progress(event.fraction, 1.0, message)

    # A task of its own rather than a task group's: a task group would wrap the call's DgxMusicError in a group.
    reporter = asyncio.ensure_future(forward())
    try:
        with send:
            yield send.send_nowait
    except BaseException:
        reporter.cancel()
        raise
    await reporter  # the stream is closed: it ends once the last event is sent


def input_file(path: str, parameter: str, config: ToolConfig, suffixes: set[str] | None = None) -> Path:
    """The file a tool reads, checked: it exists, is a file of a kind the stack takes and, for callers beyond
    loopback, lies under the output folder (a remote caller reads no other file of this machine)."""
    found = Path(path).expanduser()
    if not found.is_absolute():
        raise _invalid(parameter, f"give an absolute path, not {path!r}")
    found = found.resolve()
    if config.callers_bring_keys and not found.is_relative_to(config.out_dir.resolve()):
        reason = f"over HTTP beyond loopback only files under {config.out_dir} are read"
        raise DgxMusicError(grpc.StatusCode.PERMISSION_DENIED, reason, (FieldViolation(parameter, reason),))
    if not found.is_file():
        reason = f"no such file: {found}"
        raise NotFoundError(grpc.StatusCode.NOT_FOUND, reason, (FieldViolation(parameter, reason),))
    if suffixes is not None and found.suffix.lower() not in suffixes:
        raise _invalid(parameter, f"send a {', '.join(sorted(suffixes))} file, not {found.name}")
    return found


# The tools' inputs. Bounds mirror the server's (protos/dgxmusic/v1/music_service.proto), which checks them again.
Prompt = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description='what to make, in a producer\'s words: "trap beat with 808 bass, 140 BPM, F minor"',
    ),
]
Bars = Annotated[int | None, Field(ge=1, le=512, description="length in bars (give bars or seconds, not both)")]
Seconds = Annotated[float | None, Field(gt=0, le=600, description="length in seconds, rounded to whole bars")]
Bpm = Annotated[float | None, Field(ge=40, le=300, description="tempo in beats per minute (else from the prompt)")]
Key = Annotated[str | None, Field(max_length=40, description='key and mode, e.g. "F minor", "Am", "Bb major"')]
Meter = Annotated[
    str | None,
    Field(
        pattern=r"^([2-9]|1[0-5])/(2|4|8|16)$",
        description="time signature n/d with n 2-15 and d 2, 4, 8 or 16: 4/4, 3/4, 6/8, 7/8, 11/8...",
    ),
]
Seed = Annotated[
    int | None, Field(ge=0, le=2**63 - 1, description="the same prompt, options and seed give the same result")
]
Soundfont = Annotated[str, Field(max_length=200, description="SoundFont name; empty for the server's default")]
InstrumentName = Annotated[str, Field(min_length=1, max_length=400)]
Instruments = Annotated[
    dict[InstrumentName, InstrumentName] | None,
    Field(
        max_length=64,
        description="an instrument per track, in order (the first that picks a track wins): the key picks tracks "
        '(a track\'s name, "drums", a General MIDI program "program:33" or its name, or a family: "piano", "organ", '
        '"bass", "strings", "pad", "lead"...), the value is an instrument list_instruments names ("lv2:mda-piano", '
        '"sf2:TimGM6mb"), with "/<preset>" for one of its presets; the other tracks play instrument_set or the '
        "SoundFont",
    ),
]
InstrumentSetName = Annotated[
    str | None,
    Field(
        max_length=100,
        description='a built-in set of instruments by track kind (e.g. "studio"; list_instruments names them) for the '
        "tracks `instruments` does not pick",
    ),
]
Format = Annotated[Literal["wav", "flac"], Field(description="audio file format")]
SampleRate = Annotated[int, Field(ge=0, le=96000, description="Hz; 0 for the server's default (44100)")]
AudioPath = Annotated[
    str, Field(min_length=1, description="absolute path of an audio file (WAV, FLAC, MP3, Ogg or AIFF)")
]
Threshold = Annotated[float | None, Field(ge=0, le=1)]
Frequency = Annotated[float | None, Field(gt=0, le=20000, description="Hz")]
ResultId = Annotated[
    str, Field(pattern=r"^[0-9]{8}-[0-9]{6}-[a-z_]+-[0-9a-f]{6}$", description="result_id of an earlier tool call")
]
SessionBar = Annotated[int, Field(ge=0, le=100000, description="bar of the session, counted from 0")]


class Placed(BaseModel):
    result_id: str
    placed: dict[str, Any] = Field(description="what Ardour made: tracks, regions and markers")


class Tracks(BaseModel):
    tracks: list[dict[str, Any]] = Field(description="each track's name, kind (midi or audio) and regions")


class Markers(BaseModel):
    markers: list[dict[str, Any]] = Field(description="each marker's name, position (samples) and bar")


class Tempo(BaseModel):
    bpm: float
    bar: int


class MusicTools:
    """The tools, bound to one ToolConfig. Each public coroutine is a tool: its signature is the input schema, its
    return annotation's model the output schema, its docstring what the assistant reads."""

    def __init__(self, config: ToolConfig) -> None:
        self.config = config

    def client(self, ctx: Ctx) -> typed.AsyncMusicClient:
        return self.config.connect(caller_key(ctx, self.config))

    async def compose(
        self,
        prompt: Prompt,
        ctx: Ctx,
        bars: Bars = None,
        seconds: Seconds = None,
        bpm: Bpm = None,
        key: Key = None,
        time_signature: Meter = None,
        seed: Seed = None,
        stems: Annotated[bool, Field(description="also one audio file per track")] = True,
        transcribe: Annotated[bool, Field(description="also transcribe each pitched track back to MIDI")] = False,
        separate: Annotated[
            str, Field(max_length=100, description='also separate the mix with this model ("htdemucs")')
        ] = "",
        soundfont: Soundfont = "",
        instruments: Instruments = None,
        instrument_set: InstrumentSetName = None,
        audio_format: Format = "wav",
        sample_rate: SampleRate = 0,
    ) -> Annotated[CallToolResult, results.SongFiles]:
        """Compose a song from a prompt: its MIDI (one track per instrument), the rendered mix and one audio file
        per track, with the song's tempo, key, meter, tracks and sections."""
        options = typed.song_options(
            bpm=bpm, key=key, bars=bars, seconds=seconds, seed=seed, time_signature=time_signature
        )
        request = typed.compose_request(
            prompt,
            options=options,
            soundfont=soundfont,
            audio_format=results.audio_format(audio_format, sample_rate),
            stems=stems,
            instruments=typed.instrument_choices(instruments or {}),
            instrument_set=instrument_set or "",
        )
        request.transcribe = transcribe
        request.separate = separate

        async def run() -> results.SongFiles:
            async with self.client(ctx) as music, progress_reported(ctx) as on_progress:
                result = await music.compose(request, on_progress=on_progress)
            folder = self.keep("compose", result, prompt)
            return await in_thread(results.write_song, result, folder, prompt, audio_format)

        return await answer(run())

    async def generate_midi(
        self,
        prompt: Prompt,
        ctx: Ctx,
        variations: Annotated[int, Field(ge=1, le=8, description="songs to make (seeds seed, seed+1...)")] = 1,
        bars: Bars = None,
        seconds: Seconds = None,
        bpm: Bpm = None,
        key: Key = None,
        time_signature: Meter = None,
        seed: Seed = None,
    ) -> Annotated[CallToolResult, results.MidiFiles]:
        """Compose MIDI only (no audio), in one or more variations: fast, for sketching."""
        options = typed.song_options(
            bpm=bpm, key=key, bars=bars, seconds=seconds, seed=seed, time_signature=time_signature
        )
        request = pb.GenerateMidiRequest(prompt=prompt, variations=variations, options=options)

        async def run() -> results.MidiFiles:
            async with self.client(ctx) as music:
                songs = await music.generate_songs(request)
            folder = results.new_folder(self.config.out_dir, "generate_midi")
            return await in_thread(results.write_songs, songs, folder, prompt)

        return await answer(run())

    async def render(
        self,
        midi_path: Annotated[str, Field(min_length=1, description="absolute path of a MIDI file")],
        ctx: Ctx,
        stems: Annotated[bool, Field(description="also one audio file per track")] = False,
        soundfont: Soundfont = "",
        instruments: Instruments = None,
        instrument_set: InstrumentSetName = None,
        audio_format: Format = "wav",
        sample_rate: SampleRate = 0,
    ) -> Annotated[CallToolResult, results.AudioFiles]:
        """Render a MIDI file to audio with General MIDI instruments (FluidSynth), or track by track on the
        instruments (LV2 and VST2 plugins, other SoundFonts) that `instruments` and `instrument_set` choose."""

        async def run() -> results.AudioFiles:
            midi = input_file(midi_path, "midi_path", self.config, _MIDI_SUFFIXES)
            request = pb.RenderRequest(
                midi=await anyio.Path(midi).read_bytes(),
                soundfont=soundfont,
                audio_format=results.audio_format(audio_format, sample_rate),
                stems=stems,
                instruments=typed.instrument_choices(instruments or {}),
                instrument_set=instrument_set or "",
            )
            async with self.client(ctx) as music, progress_reported(ctx) as on_progress:
                result = await music.render(request, on_progress=on_progress)
            folder = self.keep("render", result, midi.stem)
            return await in_thread(results.write_audio, result, folder, audio_format)

        return await answer(run())

    async def transcribe(
        self,
        audio_path: AudioPath,
        ctx: Ctx,
        onset_threshold: Annotated[Threshold, Field(description="how sure a note's start must be (0.5)")] = None,
        frame_threshold: Annotated[Threshold, Field(description="how sure a sounding note must be (0.3)")] = None,
        minimum_note_ms: Annotated[float | None, Field(ge=0, le=10000, description="shortest note kept")] = None,
        minimum_frequency: Frequency = None,
        maximum_frequency: Frequency = None,
        pitch_bends: Annotated[bool, Field(description="keep pitch bends")] = True,
    ) -> Annotated[CallToolResult, results.TranscriptionFile]:
        """Transcribe audio (any rate, mono or stereo) to MIDI notes with Basic Pitch."""
        thresholds = {
            "onset_threshold": onset_threshold,
            "frame_threshold": frame_threshold,
            "minimum_note_length_ms": minimum_note_ms,
            "minimum_frequency": minimum_frequency,
            "maximum_frequency": maximum_frequency,
        }
        options = pb.TranscriptionOptions(pitch_bends=pitch_bends)
        for name, value in thresholds.items():
            if value is not None:
                setattr(options, name, value)

        async def run() -> results.TranscriptionFile:
            audio = input_file(audio_path, "audio_path", self.config, set(FILE_ENCODINGS))
            async with self.client(ctx) as music, progress_reported(ctx) as on_progress:
                result = await music.transcribe(audio, options, on_progress=on_progress)
            folder = self.keep("transcribe", result, audio.stem)
            return await in_thread(results.write_transcription, result, folder, audio.stem)

        return await answer(run())

    async def separate(
        self,
        audio_path: AudioPath,
        ctx: Ctx,
        model: Annotated[str, Field(max_length=100, description="separation model; empty for the server's")] = "",
        audio_format: Format = "wav",
        sample_rate: SampleRate = 0,
    ) -> Annotated[CallToolResult, results.AudioFiles]:
        """Separate audio into stems (drums, bass, other, vocals with htdemucs)."""
        options = pb.SeparationOptions(model=model, audio_format=results.audio_format(audio_format, sample_rate))

        async def run() -> results.AudioFiles:
            audio = input_file(audio_path, "audio_path", self.config, set(FILE_ENCODINGS))
            async with self.client(ctx) as music, progress_reported(ctx) as on_progress:
                result = await music.separate(audio, options, on_progress=on_progress)
            folder = self.keep("separate", result, audio.stem)
            return await in_thread(results.write_audio, result, folder, audio_format)

        return await answer(run())

    async def generate_audio(
        self,
        prompt: Prompt,
        ctx: Ctx,
        seconds: Annotated[
            float, Field(gt=0, le=300, description="length; past 30 s it continues window by window")
        ] = 8.0,
        model: Annotated[str, Field(max_length=100, description="musicgen-small, musicgen-melody...")] = "",
        adapter: Annotated[
            str,
            Field(max_length=64, description="a fine-tuned adapter of the model (`dgx-music train`); empty for none"),
        ] = "",
        melody_path: Annotated[
            str | None, Field(description="absolute path of audio or MIDI to follow (musicgen-melody)")
        ] = None,
        seed: Seed = None,
        temperature: Annotated[float | None, Field(gt=0, le=10)] = None,
        top_k: Annotated[int | None, Field(ge=0, le=10000)] = None,
        top_p: Annotated[float | None, Field(ge=0, le=1)] = None,
        cfg_coef: Annotated[float | None, Field(ge=0, le=100)] = None,
        audio_format: Format = "wav",
        sample_rate: Annotated[int, Field(ge=0, le=96000, description="Hz; 0 for MusicGen's 32000")] = 0,
    ) -> Annotated[CallToolResult, results.AudioFiles]:
        """Generate audio from a prompt with MusicGen (slow without a GPU: progress says the time left)."""
        request = pb.GenerateAudioRequest(
            prompt=prompt,
            model=model,
            adapter=adapter,
            seconds=seconds,
            audio_format=results.audio_format(audio_format, sample_rate),
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            cfg_coef=cfg_coef,
            seed=seed,
        )

        async def run() -> results.AudioFiles:
            if melody_path is not None:
                melody = input_file(melody_path, "melody_path", self.config, set(FILE_ENCODINGS) | _MIDI_SUFFIXES)
                data = await anyio.Path(melody).read_bytes()
                if melody.suffix.lower() in _MIDI_SUFFIXES:
                    request.melody_midi = data
                else:
                    request.melody_audio = data
            async with self.client(ctx) as music, progress_reported(ctx) as on_progress:
                result = await music.generate_audio(request, on_progress=on_progress)
            folder = self.keep("generate", result, prompt)
            return await in_thread(results.write_generated, result, folder, audio_format)

        return await answer(run())

    async def list_models(self, ctx: Ctx) -> Annotated[CallToolResult, results.Models]:
        """The stack's models and their state: ready, weights missing (with how to get them), failed, unavailable."""

        async def run() -> results.Models:
            async with self.client(ctx) as music:
                statuses = await music.list_models()
            return results.Models(models=[results.model(status) for status in statuses])

        return await answer(run())

    async def library_search(
        self,
        ctx: Ctx,
        query: Annotated[
            str,
            Field(
                max_length=1000,
                description='what to find, in words: "dark trap in G minor last week" (the key, tempo, genre and '
                "time it names are filters, the other words are matched)",
            ),
        ] = "",
        limit: Annotated[int, Field(ge=1, le=100, description="at most this many items")] = 10,
    ) -> Annotated[CallToolResult, results.LibraryItems]:
        """Search the library, where everything made (compose, render, transcribe, separate, generate) is kept:
        the caller's items that match, best first. library_get fetches an item's files."""

        async def run() -> results.LibraryItems:
            async with self.client(ctx) as music:
                found, _ = await music.search_library(library_pb2.SearchLibraryRequest(query=query, page_size=limit))
            return results.LibraryItems(items=[results.library_item(item) for item in found])

        return await answer(run())

    async def library_get(
        self, item_id: Annotated[str, Field(max_length=64, description="an id library_search gave")], ctx: Ctx
    ) -> Annotated[CallToolResult, results.LibraryFiles]:
        """Fetch a library item's files (MIDI, mix, stems, transcriptions) into a folder of their own."""

        async def run() -> results.LibraryFiles:
            async with self.client(ctx) as music:
                item = await music.get_item(item_id)
                folder = results.new_folder(self.config.out_dir, "library")
                written = await music.download_item(item_id, folder)
            return results.LibraryFiles(
                item=results.library_item(item), folder=str(folder), files=[str(path) for path in written]
            )

        return await answer(run())

    async def list_instruments(self, ctx: Ctx) -> Annotated[CallToolResult, results.Instruments]:
        """The instruments compose and render can play a track with (SoundFonts, LV2 and VST2 plugins and their
        presets), by the name `instruments` takes, and the built-in instrument sets `instrument_set` names."""

        async def run() -> results.Instruments:
            async with self.client(ctx) as music:
                found = await music.list_instruments()
            return results.instruments(found)

        return await answer(run())

    async def ardour_import(
        self,
        result_id: ResultId,
        ctx: Ctx,
        bar: Annotated[
            int | None, Field(ge=0, le=100000, description="session bar to start at, from 0; none: the playhead")
        ] = None,
    ) -> Annotated[CallToolResult, Placed]:
        """Put an earlier result (compose, render, transcribe, separate, generate_audio) into the running Ardour
        session, at the playhead or a bar: MIDI on new MIDI tracks with an instrument, audio on new audio tracks,
        section markers at their bars. Needs Ardour running with the dgx-music scripts and its OSC surface on."""

        async def run() -> Placed:
            await self.admit(ctx)
            held = self.config.held.get(result_id)
            if held is None:
                reason = f"result {result_id} is not held any more (the latest {HELD_RESULTS} are): make it again"
                raise NotFoundError(grpc.StatusCode.NOT_FOUND, reason, (FieldViolation("result_id", reason),))
            plan = await in_thread(self.config.import_plan, held, held.folder / "ardour")
            placed = await self.in_ardour(lambda ardour: ardour.place(plan, bar=bar))
            return Placed(result_id=result_id, placed=placed)

        return await answer(run())

    async def ardour_tracks(self, ctx: Ctx) -> Annotated[CallToolResult, Tracks]:
        """The tracks of the running Ardour session, with their kind and regions."""

        async def run() -> Tracks:
            await self.admit(ctx)
            return Tracks(tracks=await self.in_ardour(lambda ardour: ardour.tracks()))

        return await answer(run())

    async def ardour_markers(self, ctx: Ctx) -> Annotated[CallToolResult, Markers]:
        """The markers of the running Ardour session, with their positions and bars."""

        async def run() -> Markers:
            await self.admit(ctx)
            return Markers(markers=await self.in_ardour(lambda ardour: ardour.markers()))

        return await answer(run())

    async def ardour_set_tempo(
        self,
        bpm: Annotated[float, Field(ge=20, le=400, description="beats per minute")],
        ctx: Ctx,
        bar: SessionBar = 0,
    ) -> Annotated[CallToolResult, Tempo]:
        """Set the running Ardour session's tempo from a bar on (bar 0: the whole session)."""

        async def run() -> Tempo:
            await self.admit(ctx)
            await self.in_ardour(lambda ardour: ardour.set_tempo(bpm, bar=bar))
            return Tempo(bpm=bpm, bar=bar)

        return await answer(run())

    def keep(self, action: str, result: typed.JobResult, title: str) -> Path:
        """A new folder for a result, which is held for ardour_import under the folder's name."""
        folder = results.new_folder(self.config.out_dir, action)
        self.config.hold(HeldResult(action, result, folder, title))
        return folder

    async def in_ardour(self, work: Callable[[Ardour], _T]) -> _T:
        """`work` with the running Ardour, in a thread: the bridge waits for Ardour's answer."""

        def with_bridge() -> _T:
            ardour = self.config.ardour()
            try:
                return work(ardour)
            finally:
                ardour.close()

        return await in_thread(with_bridge)

    async def admit(self, ctx: Ctx) -> None:
        """Beyond loopback, Ardour is touched only for a caller whose key the gateway knows."""
        if self.config.callers_bring_keys:
            async with self.client(ctx) as music:
                await music.list_models()


async def in_thread(function: Callable[..., _T], *args: Any) -> _T:
    """Blocking work (writing files, waiting for Ardour) in a worker thread, so that other calls go on."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args))


_WORKING = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
_READING = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_TOOLS = {
    "compose": _WORKING,
    "generate_midi": _WORKING,
    "render": _WORKING,
    "transcribe": _WORKING,
    "separate": _WORKING,
    "generate_audio": _WORKING,
    "list_models": _READING,
    "list_instruments": _READING,
    "library_search": _READING,
    "library_get": _WORKING,
    "ardour_import": _WORKING,
    "ardour_tracks": _READING,
    "ardour_markers": _READING,
    "ardour_set_tempo": ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
}


def create_app(config: ToolConfig) -> MCPServer[Any]:
    """The MCP server with every tool, bound to `config`."""
    app: MCPServer[Any] = MCPServer(
        "dgx-music",
        instructions=(
            "dgx-music composes songs (MIDI, rendered audio, stems), renders MIDI, transcribes audio to MIDI, "
            "separates audio into stems and generates audio with MusicGen; every tool answers the paths of the "
            "files it wrote. compose and render can play tracks on plugin instruments that list_instruments names. "
            "ardour_import puts a result into the running Ardour session at the playhead or a bar."
        ),
    )
    tools = MusicTools(config)
    for name, annotations in _TOOLS.items():
        app.add_tool(getattr(tools, name), annotations=annotations)
    return app
