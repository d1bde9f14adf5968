"""The MCP server's own logic through the SDK's in-process client, against a fake of the typed client and of the
Ardour bridge: the tools and their schemas, results written to a folder per call with the song's metadata,
progress, errors as tool errors with the gRPC status and field, the keys of callers beyond loopback.
tests/test_mcp_stack.py runs the same server against the real stack, over stdio and streamable HTTP too."""

import io
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import click
import grpc
import httpx2
import mido
import numpy as np
import pytest
import soundfile
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from clients.client import AsyncMusicClient, AudioResult, ComposeResult, ProgressCallback, TranscribeResult
from clients.errors import DgxMusicError, FieldViolation, InvalidRequestError
from clients.mcp.server import BearerRequired, ardour_plan, parse_address
from clients.mcp.tools import HELD_RESULTS, Ardour, HeldResult, ToolConfig, caller_key, create_app, input_file
from dgxmusic.audio import upload_messages
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb

RATE = 8000
TOOLS = {
    "compose",
    "generate_midi",
    "render",
    "transcribe",
    "separate",
    "generate_audio",
    "list_models",
    "list_instruments",
    "library_search",
    "library_get",
    "ardour_import",
    "ardour_tracks",
    "ardour_markers",
    "ardour_set_tempo",
}


def song_midi() -> bytes:
    song = mido.MidiFile(type=1, ticks_per_beat=480)
    song.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(128))]))
    for name, channel, note in (("bass", 0, 36), ("drums", 9, 38)):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        track += [
            mido.Message("note_on", channel=channel, note=note, velocity=100, time=0),
            mido.Message("note_off", channel=channel, note=note, velocity=0, time=480),
        ]
        song.tracks.append(track)
    out = io.BytesIO()
    song.save(file=out)
    return out.getvalue()


def add_stream(result: AudioResult, name: str, seconds: float = 0.5) -> None:
    """One stream of float32 PCM, received as the typed client receives it."""
    frames = np.full((int(RATE * seconds), 2), 0.25, dtype="<f4")
    header = audio_pb2.AudioHeader(
        stem_name=name,
        sample_rate=RATE,
        channels=2,
        frames=len(frames),
        encoding=audio_pb2.AUDIO_ENCODING_PCM,
        sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32,
    )
    for message in upload_messages(frames.tobytes(), header):
        if isinstance(message, audio_pb2.AudioHeader):
            result.assembler.add_header(message)
            result.sample_rate = RATE
        elif result.assembler.add_chunk(message) is not None:
            samples = result.assembler.samples(name)
            if name:
                result.stems[name] = samples
            else:
                result.mix = samples


SONG_INFO = pb.SongInfo(
    genre="house",
    bpm=128,
    key="A minor",
    time_signature="4/4",
    bars=8,
    duration_seconds=15.0,
    seed=7,
    tracks=[
        pb.TrackInfo(name="bass", instrument="Synth Bass 1", channel=0, program=38, note_count=1),
        pb.TrackInfo(name="drums", instrument="Standard Kit", channel=9, is_drum=True, note_count=1),
    ],
    sections=[pb.Section(name="intro", start_bar=0, bars=4), pb.Section(name="drop", start_bar=4, bars=4)],
)


INSTRUMENTS = pb.ListInstrumentsResponse(
    instruments=[
        pb.Instrument(
            name="sf2:FluidR3_GM", format=pb.INSTRUMENT_FORMAT_SOUNDFONT, title="FluidR3_GM", is_default=True
        ),
        pb.Instrument(
            name="lv2:mda-jx10",
            format=pb.INSTRUMENT_FORMAT_LV2,
            title="MDA JX10",
            uri="http://drobilla.net/plugins/mda/JX10",
            presets=["5th Sweep Pad", "Echo Pad [SA]"],
        ),
    ],
    instrument_sets=[
        pb.InstrumentSet(
            name="studio",
            description="drums on avldrums, pianos on mda Piano",
            choices=[
                pb.InstrumentChoice(track="drums", instrument="lv2:avldrums"),
                pb.InstrumentChoice(track="piano", instrument="lv2:mda-piano"),
            ],
            missing=["lv2:avldrums"],
        )
    ],
)


class FakeMusic(AsyncMusicClient):
    """The typed client's calls, answered here; `fail` makes every call raise it. Records the key it was made
    with and the requests it got."""

    def __init__(self, api_key: str | None, fail: DgxMusicError | None = None) -> None:
        self.api_key = api_key
        self.fail = fail
        self.requests: list[Any] = []

    async def close(self) -> None:
        pass

    def _called(self, request: Any) -> None:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail

    async def compose(
        self, request: pb.ComposeRequest, *, on_progress: ProgressCallback | None = None
    ) -> ComposeResult:
        self._called(request)
        assert on_progress is not None
        on_progress(pb.Progress(stage=pb.STAGE_COMPOSING, fraction=0.25, message="composing"))
        on_progress(pb.Progress(stage=pb.STAGE_RENDERING, fraction=0.75))
        result = ComposeResult(midi=song_midi(), info=SONG_INFO)
        add_stream(result, "")
        if request.stems:
            add_stream(result, "bass")
            add_stream(result, "drums")
        result.summary = pb.Summary(request_id="r1", total_seconds=0.5)
        return result

    async def generate_songs(self, request: pb.GenerateMidiRequest) -> list[pb.MidiResult]:
        self._called(request)
        return [pb.MidiResult(midi=song_midi(), info=SONG_INFO) for _ in range(request.variations)]

    async def transcribe(self, source: Any, options: Any = None, *, on_progress: Any = None) -> TranscribeResult:
        self._called((source, options))
        notes = [pb.Note(start_seconds=0.0, end_seconds=0.5, pitch=69, velocity=90)]
        return TranscribeResult(pb.Transcription(midi=song_midi(), notes=notes))

    async def list_models(self) -> list[pb.ModelStatus]:
        self._called(None)
        return [pb.ModelStatus(name="text2midi", version="1", state=pb.MODEL_STATE_READY)]

    async def render(self, request: pb.RenderRequest, *, on_progress: ProgressCallback | None = None) -> AudioResult:
        self._called(request)
        result = AudioResult()
        add_stream(result, "")
        return result

    async def list_instruments(self) -> pb.ListInstrumentsResponse:
        self._called(None)
        return INSTRUMENTS


class FakeArdour:
    def __init__(self) -> None:
        self.placed: list[tuple[Any, int | None]] = []
        self.tempo: list[tuple[float, int]] = []
        self.closed = 0

    def place(self, plan: Any, *, bar: int | None = None) -> dict[str, Any]:
        self.placed.append((plan, bar))
        return {"tracks": ["bass", "drums"], "position": 0 if bar is None else bar}

    def tracks(self) -> list[dict[str, Any]]:
        return [{"name": "bass", "kind": "midi", "regions": 1}]

    def markers(self) -> list[dict[str, Any]]:
        return [{"name": "intro", "position": 0, "bar": 0}]

    def set_tempo(self, bpm: float, *, bar: int = 0) -> None:
        self.tempo.append((bpm, bar))

    def close(self) -> None:
        self.closed += 1


class Fakes:
    def __init__(self, tmp_path: Path, fail: DgxMusicError | None = None, callers_bring_keys: bool = False) -> None:
        self.clients: list[FakeMusic] = []
        self.fail = fail
        self.ardour = FakeArdour()
        self.config = ToolConfig(
            out_dir=tmp_path / "out",
            connect=self.connect,
            ardour=lambda: cast(Ardour, self.ardour),
            import_plan=lambda held, folder: ("plan", held.action, held.title, folder),
            callers_bring_keys=callers_bring_keys,
        )

    def connect(self, api_key: str | None) -> AsyncMusicClient:
        self.clients.append(FakeMusic(api_key, self.fail))
        return self.clients[-1]


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return Fakes(tmp_path)


def structured(result: CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None, result.content
    return dict(result.structured_content)


def all_files(paths: Iterable[str]) -> bool:
    return all(Path(path).is_file() for path in paths)


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def test_every_tool_is_listed_with_typed_bounded_inputs_and_an_output_schema(fakes: Fakes) -> None:
    async with Client(create_app(fakes.config)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    compose = tools["compose"]
    assert compose.input_schema["required"] == ["prompt"]
    properties = compose.input_schema["properties"]
    assert "ctx" not in properties
    assert properties["bars"]["anyOf"][0] == {"maximum": 512, "minimum": 1, "type": "integer"}
    assert properties["bpm"]["anyOf"][0]["minimum"] == 40
    assert properties["time_signature"]["anyOf"][0]["pattern"] == "^([2-9]|1[0-5])/(2|4|8|16)$"
    assert properties["audio_format"]["enum"] == ["wav", "flac"]
    assert all(prop.get("description") or name in {"audio_format"} for name, prop in properties.items())
    assert compose.output_schema is not None
    assert {"result_id", "midi", "mix", "stems", "song"} <= set(compose.output_schema["required"])
    assert compose.description
    assert "Compose a song" in compose.description
    assert tools["transcribe"].input_schema["required"] == ["audio_path"]
    assert tools["ardour_import"].input_schema["required"] == ["result_id"]
    assert tools["list_models"].annotations is not None
    assert tools["list_models"].annotations.read_only_hint


async def test_compose_writes_its_files_to_a_folder_of_its_own_and_answers_the_songs_metadata(fakes: Fakes) -> None:
    reported: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, total, message))

    async with Client(create_app(fakes.config)) as client:
        arguments = {"prompt": "house, A minor", "bars": 8, "time_signature": "4/4", "seed": 7}
        first = await client.call_tool("compose", arguments, progress_callback=on_progress)
        second = await client.call_tool("compose", {"prompt": "house", "stems": False})
    assert not first.is_error, text(first)
    song = structured(first)
    folder = Path(song["folder"])
    assert folder.parent == fakes.config.out_dir.resolve()
    assert song["result_id"] == folder.name
    assert mido.MidiFile(song["midi"]).tracks[1].name == "bass"
    mix, rate = soundfile.read(song["mix"])
    assert (rate, mix.shape) == (RATE, (RATE // 2, 2))
    assert sorted(song["stems"]) == ["bass", "drums"]
    assert {Path(path).parent for path in song["stems"].values()} == {folder / "stems"}
    assert all_files(song["stems"].values())
    assert song["song"]["title"] == "house, A minor"
    assert (song["song"]["bpm"], song["song"]["key"], song["song"]["bars"]) == (128, "A minor", 8)
    assert [t["name"] for t in song["song"]["tracks"]] == ["bass", "drums"]
    assert song["song"]["tracks"][1]["channel"] == 10
    assert [(s["name"], s["start_bar"]) for s in song["song"]["sections"]] == [("intro", 0), ("drop", 4)]
    assert reported == [(0.25, 1.0, "composing"), (0.75, 1.0, "rendering")]
    assert fakes.clients[0].requests[0].options.bars == 8
    assert fakes.clients[0].requests[0].options.time_signature == "4/4"
    assert fakes.clients[0].api_key is None  # the server's own key (from its options), on stdio

    other = structured(second)
    assert other["folder"] != song["folder"]
    assert other["stems"] == {}


async def test_generate_midi_writes_one_file_per_variation(fakes: Fakes) -> None:
    async with Client(create_app(fakes.config)) as client:
        done = await client.call_tool("generate_midi", {"prompt": "lofi", "variations": 3})
    songs = structured(done)["songs"]
    assert [Path(s["midi"]).name for s in songs] == ["song_1.mid", "song_2.mid", "song_3.mid"]
    assert all_files(s["midi"] for s in songs)
    assert {s["song"]["genre"] for s in songs} == {"house"}


async def test_a_refused_request_is_a_tool_error_with_the_grpc_status_and_the_field(tmp_path: Path) -> None:
    refusal = InvalidRequestError(
        grpc.StatusCode.INVALID_ARGUMENT, "no such key", (FieldViolation("options.key", "H major is no key"),)
    )
    fakes = Fakes(tmp_path, fail=refusal)
    async with Client(create_app(fakes.config)) as client:
        done = await client.call_tool("compose", {"prompt": "house", "key": "H major"})
    assert done.is_error
    assert structured(done) == {
        "code": "INVALID_ARGUMENT",
        "message": "no such key",
        "violations": [{"field": "options.key", "description": "H major is no key"}],
        "retry_delay": None,
    }
    assert "INVALID_ARGUMENT" in text(done)
    assert "field options.key: H major is no key" in text(done)
    assert not fakes.config.out_dir.exists(), "nothing is written for a failed call"


async def test_a_server_that_is_down_and_a_rate_limit_are_tool_errors_too(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, fail=DgxMusicError(grpc.StatusCode.UNAVAILABLE, "connection refused", retry_delay=2.0))
    async with Client(create_app(fakes.config)) as client:
        done = await client.call_tool("list_models", {})
    assert done.is_error
    assert structured(done)["code"] == "UNAVAILABLE"
    assert "retry in 2.0 s" in text(done)


async def test_inputs_out_of_bounds_are_refused_naming_the_input(fakes: Fakes) -> None:
    async with Client(create_app(fakes.config)) as client:
        bars = await client.call_tool("compose", {"prompt": "house", "bars": 0})
        meter = await client.call_tool("compose", {"prompt": "house", "time_signature": "9/7"})
        empty = await client.call_tool("compose", {"prompt": ""})
    for refused, name in ((bars, "bars"), (meter, "time_signature"), (empty, "prompt")):
        assert refused.is_error
        assert name in text(refused)
    assert fakes.clients == [], "nothing reached the stack"


async def test_input_files_are_checked_before_any_call(fakes: Fakes, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    async with Client(create_app(fakes.config)) as client:
        missing = await client.call_tool("transcribe", {"audio_path": str(tmp_path / "nothing.wav")})
        relative = await client.call_tool("transcribe", {"audio_path": "take.wav"})
        wrong_kind = await client.call_tool("render", {"midi_path": str(notes)})
    assert structured(missing)["code"] == "NOT_FOUND"
    assert structured(missing)["violations"][0]["field"] == "audio_path"
    assert structured(relative)["code"] == "INVALID_ARGUMENT"
    assert structured(wrong_kind)["violations"][0]["field"] == "midi_path"
    assert fakes.clients == []


async def test_transcribe_answers_its_midi_and_what_it_found(fakes: Fakes, tmp_path: Path) -> None:
    take = tmp_path / "take.wav"
    soundfile.write(take, np.zeros(800, np.float32), RATE)
    async with Client(create_app(fakes.config)) as client:
        done = await client.call_tool("transcribe", {"audio_path": str(take), "onset_threshold": 0.6})
    found = structured(done)
    assert (found["notes"], found["lowest_pitch"], found["highest_pitch"], found["seconds"]) == (1, 69, 69, 0.5)
    assert Path(found["midi"]).name == "take.mid"
    source, options = fakes.clients[0].requests[0]
    assert source == take
    assert options.onset_threshold == pytest.approx(0.6)
    assert not options.HasField("frame_threshold")


async def test_a_result_goes_into_ardour_at_a_bar_by_its_id(fakes: Fakes) -> None:
    async with Client(create_app(fakes.config)) as client:
        song = structured(await client.call_tool("compose", {"prompt": "house"}))
        placed = await client.call_tool("ardour_import", {"result_id": song["result_id"], "bar": 4})
        at_playhead = await client.call_tool("ardour_import", {"result_id": song["result_id"]})
        tracks = await client.call_tool("ardour_tracks", {})
        markers = await client.call_tool("ardour_markers", {})
        tempo = await client.call_tool("ardour_set_tempo", {"bpm": 128, "bar": 0})
    assert structured(placed) == {
        "result_id": song["result_id"],
        "placed": {"tracks": ["bass", "drums"], "position": 4},
    }
    plan, bar = fakes.ardour.placed[0]
    assert plan == ("plan", "compose", "house", Path(song["folder"]) / "ardour")
    assert bar == 4
    assert fakes.ardour.placed[1][1] is None, "no bar: at the playhead"
    assert not at_playhead.is_error
    assert structured(tracks)["tracks"][0]["kind"] == "midi"
    assert structured(markers)["markers"][0]["name"] == "intro"
    assert fakes.ardour.tempo == [(128.0, 0)]
    assert fakes.ardour.closed == 5, "each call's bridge is closed"
    assert not tempo.is_error


async def test_an_unknown_or_forgotten_result_is_not_found(fakes: Fakes) -> None:
    async with Client(create_app(fakes.config)) as client:
        ids = [structured(await client.call_tool("generate_midi", {"prompt": "x"}))["result_id"]]
        for _ in range(HELD_RESULTS + 1):
            ids.append(structured(await client.call_tool("compose", {"prompt": "house"}))["result_id"])
        forgotten = await client.call_tool("ardour_import", {"result_id": ids[1]})
        midi_only = await client.call_tool("ardour_import", {"result_id": ids[0]})
        made_up = await client.call_tool("ardour_import", {"result_id": "../../etc"})
    assert structured(forgotten)["code"] == "NOT_FOUND"
    assert structured(forgotten)["violations"][0]["field"] == "result_id"
    assert structured(midi_only)["code"] == "NOT_FOUND"
    assert made_up.is_error
    assert "result_id" in text(made_up)
    assert fakes.ardour.placed == []


async def test_ardour_not_answering_is_a_tool_error(fakes: Fakes) -> None:
    def down() -> Ardour:
        raise DgxMusicError(grpc.StatusCode.UNAVAILABLE, "Ardour did not answer on osc.udp://127.0.0.1:3819")

    fakes.config.ardour = down
    async with Client(create_app(fakes.config)) as client:
        done = await client.call_tool("ardour_tracks", {})
    assert structured(done)["code"] == "UNAVAILABLE"
    assert "3819" in text(done)


def request_context(headers: dict[str, str] | None) -> Any:
    return SimpleNamespace(headers=headers)


def test_a_callers_bearer_token_is_the_key_forwarded_to_the_gateway(fakes: Fakes) -> None:
    assert caller_key(request_context({"authorization": "Bearer dgxm_abc"}), fakes.config) == "dgxm_abc"
    assert caller_key(request_context({"authorization": "bearer  dgxm_abc "}), fakes.config) == "dgxm_abc"
    assert caller_key(request_context(None), fakes.config) is None, "stdio: the server's own key"
    fakes.config.callers_bring_keys = True
    with pytest.raises(DgxMusicError, match="UNAUTHENTICATED"):
        caller_key(request_context({}), fakes.config)
    with pytest.raises(DgxMusicError, match="UNAUTHENTICATED"):
        caller_key(request_context({"authorization": "Basic dXNlcg=="}), fakes.config)


async def test_callers_beyond_loopback_read_no_file_outside_the_output_folder(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, callers_bring_keys=True)
    secret = tmp_path / "private.wav"
    soundfile.write(secret, np.zeros(800, np.float32), RATE)
    async with Client(create_app(fakes.config)) as client:
        done = await client.call_tool("transcribe", {"audio_path": str(secret)})
        missing = await client.call_tool("transcribe", {"audio_path": str(tmp_path / "is it there.wav")})
    assert structured(done)["code"] == "PERMISSION_DENIED"
    assert structured(done)["violations"][0]["field"] == "audio_path"
    assert structured(missing)["code"] == "PERMISSION_DENIED", "no telling which files exist"
    assert fakes.clients == []
    inside = fakes.config.out_dir / "earlier" / "take.wav"
    inside.parent.mkdir(parents=True)
    soundfile.write(inside, np.zeros(800, np.float32), RATE)
    assert input_file(str(inside), "audio_path", fakes.config) == inside.resolve()


async def test_http_beyond_loopback_wants_a_bearer_token_before_any_session(fakes: Fakes) -> None:
    reached: list[str] = []

    async def endpoint(scope: Any, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx2.ASGITransport(app=BearerRequired(endpoint))
    async with httpx2.AsyncClient(transport=transport, base_url="http://mcp.example") as http:
        refused = await http.post("/mcp", json={})
        basic = await http.post("/mcp", json={}, headers={"Authorization": "Basic dXNlcg=="})
        let_in = await http.post("/mcp", json={}, headers={"Authorization": "Bearer dgxm_abc"})
    assert (refused.status_code, basic.status_code, let_in.status_code) == (401, 401, 200)
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert reached == ["/mcp"]


def test_addresses() -> None:
    assert parse_address("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_address("[::1]:8765") == ("::1", 8765)
    with pytest.raises(click.BadParameter, match="HOST:PORT"):
        parse_address("8765")


def test_held_results_are_the_latest_few(fakes: Fakes, tmp_path: Path) -> None:
    for number in range(HELD_RESULTS + 2):
        fakes.config.hold(HeldResult("render", AudioResult(), tmp_path / f"r{number}", "t"))
    assert list(fakes.config.held) == [f"r{n}" for n in range(2, HELD_RESULTS + 2)]


async def test_over_http_each_call_goes_to_the_gateway_with_its_callers_key(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, callers_bring_keys=True)
    app = create_app(fakes.config)
    guarded = BearerRequired(app.streamable_http_app(host="0.0.0.0"))

    def caller(key: str) -> Any:
        http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=guarded), headers={"Authorization": f"Bearer {key}"}
        )
        return streamable_http_client("http://studio.example/mcp", http_client=http)

    async with (
        app.session_manager.run(),
        Client(caller("dgxm_first")) as first,
        Client(caller("dgxm_second")) as second,
    ):
        await first.call_tool("list_models", {})
        await second.call_tool("list_models", {})
        song = await first.call_tool("generate_midi", {"prompt": "lofi"})
    assert not song.is_error
    assert [music.api_key for music in fakes.clients] == ["dgxm_first", "dgxm_second", "dgxm_first"]


def held(action: str, result: Any, tmp_path: Path) -> HeldResult:
    return HeldResult(action, result, tmp_path / action, "take")


def test_each_kind_of_result_becomes_the_import_plan_that_puts_it_into_ardour(tmp_path: Path) -> None:
    song = ComposeResult(midi=song_midi(), info=SONG_INFO)
    for stream in ("", "bass", "drums"):
        add_stream(song, stream)
    stems = AudioResult()
    for stream in ("drums", "vocals"):
        add_stream(stems, stream)
    mix_only = AudioResult()
    add_stream(mix_only, "")
    clip = AudioResult()
    add_stream(clip, "0")
    notes = [pb.Note(start_seconds=0.5, end_seconds=1.0, pitch=60, velocity=80)]
    transcribed = TranscribeResult(pb.Transcription(midi=song_midi(), notes=notes))

    composed = ardour_plan(held("compose", song, tmp_path), tmp_path / "a")
    assert (composed.action, composed.bpm, composed.meter) == ("compose", 128, (4, 4))
    assert [part.name for part in composed.midi] == ["bass", "drums"]
    assert [part.name for part in composed.audio] == ["bass", "drums"]
    assert [(marker.name, marker.bar) for marker in composed.markers] == [("intro", 0), ("drop", 4)]
    assert ardour_plan(held("transcribe", transcribed, tmp_path), tmp_path / "b").midi[0].notes[0].pitch == 60
    assert [part.name for part in ardour_plan(held("separate", stems, tmp_path), tmp_path / "c").audio] == [
        "take drums",
        "take vocals",
    ]
    rendered = ardour_plan(held("render", mix_only, tmp_path), tmp_path / "d")
    assert [part.name for part in rendered.audio] == ["take"]
    assert rendered.folder is not None
    assert soundfile.info(rendered.audio[0].path).frames == RATE // 2
    assert [part.name for part in ardour_plan(held("generate", clip, tmp_path), tmp_path / "e").audio] == ["take"]


async def test_compose_and_render_play_the_instruments_chosen_per_track_in_order(fakes: Fakes, tmp_path: Path) -> None:
    midi = tmp_path / "song.mid"
    midi.write_bytes(song_midi())
    chosen = {"drums": "lv2:avldrums", "program:33": "lv2:mda-jx10/5th Sweep Pad", "bass": "sf2:TimGM6mb"}
    async with Client(create_app(fakes.config)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        composed = await client.call_tool("compose", {"prompt": "house", "instruments": chosen})
        rendered = await client.call_tool(
            "render", {"midi_path": str(midi), "instruments": chosen, "instrument_set": "studio"}
        )
        plain = await client.call_tool("render", {"midi_path": str(midi)})
    assert not composed.is_error, text(composed)
    assert not rendered.is_error, text(rendered)
    assert not plain.is_error, text(plain)
    expected = [pb.InstrumentChoice(track=track, instrument=name) for track, name in chosen.items()]
    compose_request, render_request, plain_request = (made.requests[0] for made in fakes.clients)
    assert list(compose_request.instruments) == expected
    assert compose_request.instrument_set == ""
    assert list(render_request.instruments) == expected
    assert render_request.instrument_set == "studio"
    assert (list(plain_request.instruments), plain_request.instrument_set) == ([], "")
    for tool in ("compose", "render"):
        properties = tools[tool].input_schema["properties"]
        assert properties["instruments"]["anyOf"][0]["maxProperties"] == 64
        assert "list_instruments" in properties["instruments"]["description"]
        assert "instrument_set" in properties


async def test_an_empty_track_or_instrument_is_refused_before_any_call(fakes: Fakes) -> None:
    async with Client(create_app(fakes.config)) as client:
        no_track = await client.call_tool("compose", {"prompt": "house", "instruments": {"": "lv2:mda-piano"}})
        no_instrument = await client.call_tool("compose", {"prompt": "house", "instruments": {"piano": ""}})
    assert no_track.is_error
    assert no_instrument.is_error
    assert "instruments" in text(no_track)
    assert fakes.clients == []


async def test_list_instruments_answers_the_instruments_and_the_sets(fakes: Fakes) -> None:
    async with Client(create_app(fakes.config)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        done = await client.call_tool("list_instruments", {})
    assert tools["list_instruments"].annotations is not None
    assert tools["list_instruments"].annotations.read_only_hint
    found = structured(done)
    assert found["instruments"] == [
        {"name": "sf2:FluidR3_GM", "format": "soundfont", "title": "FluidR3_GM", "presets": [], "is_default": True},
        {
            "name": "lv2:mda-jx10",
            "format": "lv2",
            "title": "MDA JX10",
            "presets": ["5th Sweep Pad", "Echo Pad [SA]"],
            "is_default": False,
        },
    ]
    assert found["instrument_sets"] == [
        {
            "name": "studio",
            "description": "drums on avldrums, pianos on mda Piano",
            "choices": [
                {"track": "drums", "instrument": "lv2:avldrums"},
                {"track": "piano", "instrument": "lv2:mda-piano"},
            ],
            "missing": ["lv2:avldrums"],
        }
    ]
