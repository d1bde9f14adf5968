"""Render controls and uploaded SoundFonts through MusicService's real gRPC API, in process, on FakeModels (the real
renderer and transcriber) and fakeredis (issue #11): mixing options checked field by field and cached apart, a
loudness met, SoundFonts stored by sha256 and refused when they are not SoundFonts, midi_tempo reaching the MIDI."""

import asyncio
import hashlib
import io
import os
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fakeredis
import grpc
import mido
import numpy as np
import pytest

from clients.client import AsyncMusicClient, song_options
from clients.errors import DgxMusicError
from clients.soundfonts import file_sha256, soundfont_header, upload_soundfont_messages
from deploy.settings import Settings
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.music_service_pb2_grpc import MusicServiceStub
from fake_models import FakeModels, tone
from gateway.server import build
from gateway.soundfont_uploads import _make_room, mark_used
from renderers import integrated_loudness

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
TIMGM_BYTES = TIMGM.stat().st_size


@dataclass(frozen=True)
class Running:
    settings: Settings
    models: FakeModels
    client: AsyncMusicClient

    @property
    def stub(self) -> Any:
        return MusicServiceStub(self.client.channel)


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    settings = Settings(
        triton_url="fake-models:8001",
        metrics_port=0,
        upload_idle_seconds=2.0,
        data_dir=tmp_path_factory.mktemp("data"),
        max_soundfont_bytes=16 * 1024 * 1024,
    )
    models = FakeModels(settings)
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    gateway = await build(settings, models, redis)
    port = gateway.server.add_insecure_port("127.0.0.1:0")
    await gateway.server.start()
    client = AsyncMusicClient(f"127.0.0.1:{port}", timeout=60)
    try:
        yield Running(settings, models, client)
    finally:
        await client.close()
        await gateway.server.stop(grace=None)
        await models.close()
        await redis.aclose()


async def failure_of(call: Any) -> DgxMusicError:
    with pytest.raises(DgxMusicError) as caught:
        await call
    return caught.value


async def upload(running: Running, messages: Iterator[pb.UploadSoundFontRequest]) -> pb.UploadSoundFontResponse:
    reply: pb.UploadSoundFontResponse = await running.client._unary(running.stub.UploadSoundFont, messages)
    return reply


def chunked(header: pb.SoundFontHeader, data: bytes) -> Iterator[pb.UploadSoundFontRequest]:
    yield pb.UploadSoundFontRequest(header=header)
    for start in range(0, len(data), 1 << 20):
        yield pb.UploadSoundFontRequest(chunk=data[start : start + (1 << 20)])


@pytest.fixture(scope="module")
async def song(running: Running) -> pb.MidiResult:
    return await running.client.generate_midi("lofi hip hop 85 in D minor", song_options(bars=4, seed=3))


# -- mixing -------------------------------------------------------------------------------------------------------


async def test_a_render_meets_its_loudness_target_without_passing_the_ceiling(
    running: Running, song: pb.MidiResult
) -> None:
    mixing = pb.MixingOptions(loudness_lufs=-16, reverb_level=0, chorus_level=0)
    rendered = await running.client.render(pb.RenderRequest(midi=song.midi, mixing=mixing, stems=True))
    loudness = integrated_loudness(rendered.mix, rendered.sample_rate)
    assert loudness == pytest.approx(-16, abs=0.5)
    assert np.max(np.abs(rendered.mix)) <= 10 ** (-1 / 20)
    np.testing.assert_allclose(sum(rendered.stems.values()), rendered.mix, atol=1e-5)


async def test_compose_mixes_its_song_as_asked(running: Running) -> None:
    request = pb.ComposeRequest(
        prompt="deep house 122, A minor",
        options=song_options(bars=4, seed=5),
        mixing=pb.MixingOptions(loudness_lufs=-18, chorus_level=0),
    )
    song = await running.client.compose(request)
    assert integrated_loudness(song.mix, song.sample_rate) == pytest.approx(-18, abs=0.5)
    np.testing.assert_allclose(sum(song.stems.values()), song.mix, atol=1e-5)


async def test_mixing_options_are_part_of_the_cache_key(running: Running, song: pb.MidiResult) -> None:
    plain = await running.client.render(pb.RenderRequest(midi=song.midi))
    quieter = await running.client.render(pb.RenderRequest(midi=song.midi, mixing=pb.MixingOptions(gain_db=-12)))
    assert not quieter.summary.cache_hit
    assert np.max(np.abs(quieter.mix)) == pytest.approx(np.max(np.abs(plain.mix)) * 10 ** (-12 / 20), rel=1e-3)


async def test_every_bad_mixing_option_is_named(running: Running, song: pb.MidiResult) -> None:
    mixing = pb.MixingOptions(gain_db=99, reverb_level=2, chorus_level=-1, loudness_lufs=3, peak_ceiling_dbfs=1)
    error = await failure_of(running.client.render(pb.RenderRequest(midi=song.midi, mixing=mixing)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == [
        "mixing.gain_db",
        "mixing.reverb_level",
        "mixing.chorus_level",
        "mixing.loudness_lufs",
        "mixing.peak_ceiling_dbfs",
    ]
    compose = pb.ComposeRequest(prompt="house", mixing=pb.MixingOptions(reverb_room_size=5))
    error = await failure_of(running.client.compose(compose))
    assert [v.field for v in error.violations] == ["mixing.reverb_room_size"]


# -- uploaded SoundFonts ------------------------------------------------------------------------------------------


async def test_a_soundfont_is_asked_for_uploaded_once_kept_owner_only_and_rendered_with(
    running: Running, song: pb.MidiResult
) -> None:
    header = soundfont_header(TIMGM, file_sha256(TIMGM))
    name = f"sha256:{header.sha256}"
    error = await failure_of(running.client.render(pb.RenderRequest(midi=song.midi, soundfont=name)))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert [v.field for v in error.violations] == ["soundfont"]
    asked = await failure_of(upload(running, iter([pb.UploadSoundFontRequest(header=header)])))
    assert asked.code == grpc.StatusCode.NOT_FOUND

    first = await upload(running, upload_soundfont_messages(TIMGM, header))
    assert (first.soundfont, first.already_stored, first.size_bytes) == (name, False, TIMGM_BYTES)
    again = await upload(running, iter([pb.UploadSoundFontRequest(header=header)]))
    assert again.already_stored
    assert await running.client.upload_soundfont(TIMGM) == (name, False)  # asks first, sends nothing

    store = running.settings.soundfont_upload_dir
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert [path.name for path in store.iterdir()] == [f"{header.sha256}.sf2"]
    assert stat.S_IMODE((store / f"{header.sha256}.sf2").stat().st_mode) == 0o600

    mixing = pb.MixingOptions(reverb_level=0, chorus_level=0)
    own = await running.client.render(pb.RenderRequest(midi=song.midi, soundfont=name.upper(), mixing=mixing))
    default = await running.client.render(pb.RenderRequest(midi=song.midi, mixing=mixing))
    same = await running.client.render(pb.RenderRequest(midi=song.midi, soundfont="TimGM6mb", mixing=mixing))
    np.testing.assert_array_equal(own.mix, same.mix)
    assert own.mix.shape != default.mix.shape or not np.allclose(own.mix, default.mix, atol=1e-3)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32), "soundfont", id="a WAV"),
        pytest.param(b"MThd\x00\x00\x00\x06" + bytes(64), "soundfont", id="a MIDI file"),
        pytest.param(b"RIFF\x38\x00\x00\x00sfbk" + bytes(52), "soundfont", id="an empty sfbk"),
    ],
)
async def test_what_is_not_a_soundfont_is_refused_naming_the_field_and_nothing_is_kept(
    running: Running, data: bytes, field: str
) -> None:
    header = pb.SoundFontHeader(total_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    error = await failure_of(upload(running, chunked(header, data)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == [field]
    kept = (
        list(running.settings.soundfont_upload_dir.glob("*")) if running.settings.soundfont_upload_dir.exists() else []
    )
    assert all(not path.name.startswith((".upload", header.sha256)) for path in kept)


@pytest.mark.parametrize(
    ("header", "field", "code"),
    [
        (
            pb.SoundFontHeader(total_bytes=100, sha256="../../etc/passwd"),
            "header.sha256",
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.SoundFontHeader(total_bytes=1 << 30, sha256="a" * 64),
            "header.total_bytes",
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
    ],
)
async def test_a_bad_header_is_refused_before_any_chunk(
    running: Running, header: pb.SoundFontHeader, field: str, code: grpc.StatusCode
) -> None:
    error = await failure_of(upload(running, iter([pb.UploadSoundFontRequest(header=header)])))
    assert error.code == code
    assert [v.field for v in error.violations] == [field]


async def test_a_file_unlike_its_sha256_is_refused(running: Running) -> None:
    data = await asyncio.to_thread(TIMGM.read_bytes)
    header = pb.SoundFontHeader(total_bytes=len(data), sha256="b" * 64)
    error = await failure_of(upload(running, chunked(header, data)))
    assert [v.field for v in error.violations] == ["header.sha256"]


# -- transcription options ----------------------------------------------------------------------------------------


async def test_midi_tempo_is_the_tempo_written_in_the_transcribed_midi(running: Running) -> None:
    audio = tone(440.0, 2.0, 22050)
    result = await running.client.transcribe((audio, 22050), pb.TranscriptionOptions(midi_tempo=90))
    midi = mido.MidiFile(file=io.BytesIO(result.transcription.midi))
    tempos = [message.tempo for track in midi.tracks for message in track if message.type == "set_tempo"]
    assert [round(mido.tempo2bpm(tempo), 3) for tempo in tempos] == [90]
    error = await failure_of(running.client.transcribe((audio, 22050), pb.TranscriptionOptions(midi_tempo=0)))
    assert [v.field for v in error.violations] == ["transcription_options.midi_tempo"]


def test_the_store_drops_its_least_recently_used_fonts_to_make_room(tmp_path: Path) -> None:
    sizes = {"a": 400, "b": 300, "c": 200}
    for age, (name, size) in enumerate(sizes.items()):
        font = tmp_path / f"{name * 64}.sf2"
        font.write_bytes(bytes(size))
        os.utime(font, (1000 + age, 1000 + age))  # a the least recently used
    assert mark_used(tmp_path / f"{'a' * 64}.sf2")  # now a is the most recent
    assert not mark_used(tmp_path / f"{'d' * 64}.sf2")
    _make_room(tmp_path, 250, max_store_bytes=1000)
    assert sorted(path.name[0] for path in tmp_path.iterdir()) == ["a", "c"]
