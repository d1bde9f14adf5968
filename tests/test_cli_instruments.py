"""Instruments in the clients without the stack: --instrument and --instrument-set parsed and carried in the
RenderRequest and ComposeRequest the CLI sends (plain and --detach), `dgx-music instruments list` and the typed
clients' list_instruments, against a fake MusicService and JobService in-process (issue #16)."""

import json
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import grpc
import numpy as np
import pytest
from click.testing import CliRunner

from clients.cli import main
from clients.client import AsyncMusicClient, MusicClient, compose_request, instrument_choices
from clients.render_controls import instrument_choice, instrument_options
from dgxmusic.audio import upload_messages
from dgxmusic.v1 import audio_pb2, jobs_pb2, jobs_pb2_grpc
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1 import music_service_pb2_grpc as pb_grpc

RATE = 8000
INSTRUMENTS = pb.ListInstrumentsResponse(
    instruments=[
        pb.Instrument(name="sf2:FluidR3_GM", format=pb.INSTRUMENT_FORMAT_SOUNDFONT, title="Fluid R3", is_default=True),
        pb.Instrument(
            name="lv2:mda-jx10",
            format=pb.INSTRUMENT_FORMAT_LV2,
            title="MDA JX10",
            uri="http://drobilla.net/plugins/mda/JX10",
            presets=["5th Sweep Pad", "Echo Pad [SA]", "Space Chimes [SA]", "Solid Backing"],
        ),
        pb.Instrument(name="vst2:zynaddsubfx", format=pb.INSTRUMENT_FORMAT_VST2, title="ZynAddSubFX"),
    ],
    instrument_sets=[
        pb.InstrumentSet(
            name="studio",
            description="drums on avldrums, organs on setBfree",
            choices=[
                pb.InstrumentChoice(track="drums", instrument="lv2:avldrums"),
                pb.InstrumentChoice(track="organ", instrument="lv2:setbfree"),
            ],
            missing=["lv2:setbfree"],
        )
    ],
)


def _mix_events() -> Iterator[audio_pb2.AudioHeader | audio_pb2.AudioChunk]:
    """Half a second of float32 PCM as the mix's header and chunks."""
    frames = np.full((RATE // 2, 2), 0.25, dtype="<f4")
    header = audio_pb2.AudioHeader(
        sample_rate=RATE,
        channels=2,
        frames=len(frames),
        encoding=audio_pb2.AUDIO_ENCODING_PCM,
        sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32,
    )
    return upload_messages(frames.tobytes(), header)


def _audio_event(response_type: Any, message: audio_pb2.AudioHeader | audio_pb2.AudioChunk) -> Any:
    if isinstance(message, audio_pb2.AudioHeader):
        return response_type(audio_header=message)
    return response_type(audio_chunk=message)


@dataclass
class FakeMusic(pb_grpc.MusicServiceServicer, jobs_pb2_grpc.JobServiceServicer):  # type: ignore[misc]
    """Keeps the requests it is sent; answers each with half a second of audio (a job with its id)."""

    requests: list[Any] = field(default_factory=list)

    def ListInstruments(self, request: pb.ListInstrumentsRequest, context: Any) -> pb.ListInstrumentsResponse:
        context.set_trailing_metadata((("x-request-id", "instruments-1"),))
        return INSTRUMENTS

    def Render(self, request: pb.RenderRequest, context: Any) -> Iterator[pb.RenderResponse]:
        self.requests.append(request)
        yield from (_audio_event(pb.RenderResponse, message) for message in _mix_events())
        yield pb.RenderResponse(summary=pb.Summary(request_id="render-1"))

    def Compose(self, request: pb.ComposeRequest, context: Any) -> Iterator[pb.ComposeResponse]:
        self.requests.append(request)
        yield pb.ComposeResponse(midi=pb.MidiResult(midi=b"MThd", info=pb.SongInfo(genre="house", bpm=120)))
        yield from (_audio_event(pb.ComposeResponse, message) for message in _mix_events())
        yield pb.ComposeResponse(summary=pb.Summary(request_id="compose-1"))

    def SubmitJob(self, request_iterator: Iterator[jobs_pb2.SubmitJobRequest], context: Any) -> Any:
        self.requests.append(next(request_iterator).request)
        return jobs_pb2.SubmitJobResponse(job=jobs_pb2.Job(id=f"job-{len(self.requests)}"))


@dataclass
class Fake:
    music: FakeMusic
    target: str


@pytest.fixture
def fake() -> Iterator[Fake]:
    servicer = FakeMusic()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_MusicServiceServicer_to_server(servicer, server)
    jobs_pb2_grpc.add_JobServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield Fake(servicer, f"127.0.0.1:{port}")
    server.stop(grace=None)


CHOSEN = [
    pb.InstrumentChoice(track="drums", instrument="lv2:avldrums"),
    pb.InstrumentChoice(track="program:33", instrument="lv2:mda-jx10/5th Sweep Pad"),
    pb.InstrumentChoice(track="Electric Bass (finger)", instrument="sf2:TimGM6mb"),
]
CHOSEN_ARGS = [
    "--instrument", "drums=lv2:avldrums",
    "--instrument", "program:33 = lv2:mda-jx10/5th Sweep Pad",
    "--instrument", "Electric Bass (finger)=sf2:TimGM6mb",
]  # fmt: skip


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("value", "track", "instrument"),
    [
        ("drums=lv2:avldrums", "drums", "lv2:avldrums"),
        (" Bass = vst2:zynaddsubfx ", "Bass", "vst2:zynaddsubfx"),
        ("lead=lv2:mda-jx10/Preset=2", "lead", "lv2:mda-jx10/Preset=2"),  # split at the first "="
    ],
)
def test_an_instrument_choice_is_track_equals_instrument(value: str, track: str, instrument: str) -> None:
    assert instrument_choice(value) == pb.InstrumentChoice(track=track, instrument=instrument)


@pytest.mark.parametrize("value", ["drums", "=lv2:avldrums", "drums=", " = ", ""])
def test_an_instrument_choice_without_both_sides_is_refused_naming_the_option(value: str) -> None:
    seen: list[Any] = []

    @click.command()
    @instrument_options
    def command(**given: Any) -> None:
        seen.append(given)

    done = CliRunner().invoke(command, ["--instrument", "piano=lv2:mda-piano", "--instrument", value])
    assert done.exit_code == 2
    assert "Invalid value for '--instrument'" in done.output
    assert "TRACK=INSTRUMENT" in done.output
    assert not seen


def test_instrument_options_give_the_choices_in_the_order_typed_and_the_set() -> None:
    seen: dict[str, Any] = {}

    @click.command()
    @instrument_options
    def command(instruments: list[pb.InstrumentChoice], instrument_set: str) -> None:
        seen.update(instruments=instruments, instrument_set=instrument_set)

    assert CliRunner().invoke(command, [*CHOSEN_ARGS, "--instrument-set", "studio"]).exit_code == 0
    assert seen == {"instruments": CHOSEN, "instrument_set": "studio"}
    assert CliRunner().invoke(command, []).exit_code == 0
    assert seen == {"instruments": [], "instrument_set": ""}


def test_the_typed_client_builds_choices_from_a_mapping_in_its_order() -> None:
    by_track = {choice.track: choice.instrument for choice in CHOSEN}
    assert instrument_choices(by_track) == CHOSEN
    request = compose_request("house", instruments=CHOSEN, instrument_set="studio")
    assert (list(request.instruments), request.instrument_set) == (CHOSEN, "studio")


def test_render_sends_the_choices_and_the_set_plain_and_detached(fake: Fake, tmp_path: Path) -> None:
    midi = tmp_path / "song.mid"
    midi.write_bytes(b"MThd")
    out = tmp_path / "mix.wav"
    plain = invoke("render", str(midi), "--out", str(out), *CHOSEN_ARGS, "--instrument-set", "studio",
                   "--server", fake.target)  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert out.is_file()
    detached = invoke("render", str(midi), *CHOSEN_ARGS, "--detach", "--server", fake.target)
    assert detached.exit_code == 0, detached.output
    rendered, job = fake.music.requests
    assert (list(rendered.instruments), rendered.instrument_set) == (CHOSEN, "studio")
    assert (list(job.render.instruments), job.render.instrument_set) == (CHOSEN, "")


def test_compose_sends_the_choices_and_the_set_plain_and_detached(fake: Fake, tmp_path: Path) -> None:
    plain = invoke("compose", "house", "--out", str(tmp_path / "song"), *CHOSEN_ARGS, "--server", fake.target)
    assert plain.exit_code == 0, plain.output
    assert (tmp_path / "song" / "mix.wav").is_file()
    detached = invoke("compose", "house", "--instrument-set", "studio", "--detach", "--server", fake.target)
    assert detached.exit_code == 0, detached.output
    composed, job = fake.music.requests
    assert (list(composed.instruments), composed.instrument_set) == (CHOSEN, "")
    assert (list(job.compose.instruments), job.compose.instrument_set) == ([], "studio")


def test_a_bad_choice_is_refused_before_any_call(fake: Fake, tmp_path: Path) -> None:
    done = invoke("compose", "house", "--out", str(tmp_path), "--instrument", "lv2:mda-piano", "--server", fake.target)
    assert done.exit_code == 2
    assert "'--instrument'" in done.output
    assert fake.music.requests == []


def test_the_typed_clients_list_instruments_with_the_request_id(fake: Fake) -> None:
    with MusicClient(fake.target) as music:
        assert music.list_instruments() == INSTRUMENTS
        assert music.last_request_id == "instruments-1"


async def test_the_async_client_lists_instruments_as_the_blocking_one(fake: Fake) -> None:
    async with AsyncMusicClient(fake.target) as music:
        assert await music.list_instruments() == INSTRUMENTS
        assert music.last_request_id == "instruments-1"


def test_instruments_list_prints_the_instruments_and_the_sets(fake: Fake) -> None:
    done = invoke("instruments", "list", "--server", fake.target)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    row = next(line for line in lines if "lv2:mda-jx10" in line)
    assert "lv2" in row
    assert "MDA JX10" in row
    assert "4: 5th Sweep Pad, Echo Pad [SA], Space Chimes [SA], ... (--presets lists all)" in row
    assert "Solid Backing" not in done.output
    assert "sf2:FluidR3_GM (default)" in done.output
    assert "soundfont" in next(line for line in lines if "sf2:FluidR3_GM" in line)
    assert "vst2" in next(line for line in lines if "vst2:zynaddsubfx" in line)
    studio = next(line for line in lines if "studio" in line)
    assert "drums=lv2:avldrums" in studio
    assert "lv2:setbfree" in studio
    assert any("organ=lv2:setbfree" in line for line in lines)
    every = invoke("instruments", "list", "--presets", "--server", fake.target)
    assert "Solid Backing" in every.output


def test_instruments_list_json_is_one_object_of_both_lists(fake: Fake) -> None:
    done = invoke("instruments", "list", "--json", "--server", fake.target)
    assert done.exit_code == 0, done.output
    told = json.loads(done.output)
    assert told["command"] == "instruments list"
    assert told["request_id"] == "instruments-1"
    assert [instrument["name"] for instrument in told["instruments"]] == [
        "sf2:FluidR3_GM",
        "lv2:mda-jx10",
        "vst2:zynaddsubfx",
    ]
    assert told["instruments"][1]["format"] == "INSTRUMENT_FORMAT_LV2"
    assert told["instruments"][1]["presets"][0] == "5th Sweep Pad"
    assert told["instrument_sets"][0]["choices"][1] == {"track": "organ", "instrument": "lv2:setbfree"}
    assert told["instrument_sets"][0]["missing"] == ["lv2:setbfree"]
