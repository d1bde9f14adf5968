"""Instruments through MusicService's real gRPC API, in process, on FakeModels (the real renderer: SoundFonts, and the
Debian plugins in the plugin host's worker processes) and fakeredis (issue #16): the instrument list, a track played
by a plugin, an instrument set, and every bad choice refused naming its field."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import numpy as np
import pytest

from clients.client import AsyncMusicClient, song_options
from clients.errors import DgxMusicError
from deploy.settings import Settings
from dgxmusic.v1 import music_service_pb2 as pb
from fake_models import FakeModels, gateway_on_fakes
from gateway.validation import MAX_INSTRUMENT_CHOICES


@dataclass(frozen=True)
class Running:
    models: FakeModels
    client: AsyncMusicClient


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    settings = Settings(triton_url="fake-models:8001", metrics_port=0, data_dir=tmp_path_factory.mktemp("data"))
    async with gateway_on_fakes(settings) as (models, _, target):
        client = AsyncMusicClient(target, timeout=60)
        try:
            yield Running(models, client)
        finally:
            await client.close()


@pytest.fixture(scope="module")
async def song(running: Running) -> pb.MidiResult:
    return await running.client.generate_midi("synthwave with piano and bass, 110 BPM", song_options(bars=4, seed=1))


async def failure_of(call: object) -> DgxMusicError:
    with pytest.raises(DgxMusicError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_the_list_names_every_soundfont_and_plugin_and_the_sets(running: Running) -> None:
    listed = await running.client.list_instruments()
    by_name = {instrument.name: instrument for instrument in listed.instruments}
    assert by_name["sf2:FluidR3_GM"].is_default
    assert by_name["sf2:FluidR3_GM"].format == pb.INSTRUMENT_FORMAT_SOUNDFONT
    piano = by_name["lv2:mda-piano"]
    assert (piano.format, piano.title, piano.uri) == (
        pb.INSTRUMENT_FORMAT_LV2,
        "MDA Piano",
        "http://drobilla.net/plugins/mda/Piano",
    )
    assert "Analog Bass" in by_name["lv2:mda-jx10"].presets
    assert by_name["vst2:zynaddsubfx"].format == pb.INSTRUMENT_FORMAT_VST2
    sets = {instrument_set.name: instrument_set for instrument_set in listed.instrument_sets}
    assert {"studio", "soundfont"} <= set(sets)
    studio = {choice.track: choice.instrument for choice in sets["studio"].choices}
    assert studio["drums"] == "lv2:black-pearl-drumkit"
    assert not sets["studio"].missing


async def test_a_track_plays_the_plugin_chosen_for_it_and_the_rest_stay_as_they_were(
    running: Running, song: pb.MidiResult
) -> None:
    plain = await running.client.render(pb.RenderRequest(midi=song.midi, stems=True))
    choice = pb.InstrumentChoice(track="bass", instrument="lv2:mda-jx10/Analog Bass")
    played = await running.client.render(pb.RenderRequest(midi=song.midi, stems=True, instruments=[choice]))
    assert list(played.stems) == list(plain.stems)
    np.testing.assert_allclose(sum(played.stems.values()), played.mix, atol=1e-5)
    # The two mixes have gains of their own; the drums, untouched, tell their ratio.
    gain_ratio = np.max(np.abs(plain.stems["Drums"])) / np.max(np.abs(played.stems["Drums"]))
    for name in plain.stems:
        frames = min(len(plain.stems[name]), len(played.stems[name]))
        ours, theirs = played.stems[name][:frames] * gain_ratio, plain.stems[name][:frames]
        if name == "Bass":
            assert not np.allclose(ours, theirs, atol=1e-2)
        else:  # the same sound, scaled by the mix's own gain
            np.testing.assert_allclose(ours, theirs, atol=2e-4)
    again = await running.client.render(
        pb.RenderRequest(midi=song.midi, stems=True, instruments=[choice], bypass_cache=True)
    )
    np.testing.assert_array_equal(again.mix, played.mix)


async def test_compose_plays_the_studio_set(running: Running) -> None:
    request = pb.ComposeRequest(prompt="trap beat with 808 bass, 140 BPM, F minor", instrument_set="studio")
    request.options.CopyFrom(song_options(bars=2, seed=2))
    song = await running.client.compose(request)
    plain = await running.client.compose(pb.ComposeRequest(prompt=request.prompt, options=request.options))
    frames = min(len(song.stems["Drums"]), len(plain.stems["Drums"]))
    assert not np.allclose(song.stems["Drums"][:frames], plain.stems["Drums"][:frames], atol=1e-3)


async def test_every_bad_choice_is_refused_naming_its_field(running: Running, song: pb.MidiResult) -> None:
    choices = [
        pb.InstrumentChoice(track="", instrument="lv2:mda-piano"),
        pb.InstrumentChoice(track="Bass", instrument="piano"),
    ]
    error = await failure_of(
        running.client.render(pb.RenderRequest(midi=song.midi, instruments=choices, instrument_set="gold"))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == [
        "instruments[0].track",
        "instruments[1].instrument",
        "instrument_set",
    ]

    too_many = [pb.InstrumentChoice(track="Bass", instrument="lv2:mda-piano")] * (MAX_INSTRUMENT_CHOICES + 1)
    error = await failure_of(running.client.render(pb.RenderRequest(midi=song.midi, instruments=too_many)))
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [v.field for v in error.violations] == ["instruments"]


async def test_what_the_server_lacks_is_refused_by_the_renderer_naming_its_field(
    running: Running, song: pb.MidiResult
) -> None:
    missing = pb.InstrumentChoice(track="Bass", instrument="lv2:mda-pianoforte")
    error = await failure_of(running.client.render(pb.RenderRequest(midi=song.midi, instruments=[missing])))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == ["instruments[0].instrument"]
    assert "lv2:mda-piano" in error.message

    typo = pb.InstrumentChoice(track="Basss", instrument="lv2:mda-piano")
    error = await failure_of(running.client.render(pb.RenderRequest(midi=song.midi, instruments=[typo])))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == ["instruments[0].track"]
    assert "Bass" in error.message
