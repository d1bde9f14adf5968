"""Renders whose tracks play through real plugin instruments and other SoundFonts beside the request's SoundFont: the
stems add up to the mix, untouched tracks sound as they did, a plugin track sits at the SoundFont's level, the same
request renders the same samples, and a plugin that plays nothing fails its track by name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
import pytest

import composer
from renderers import DEFAULT_SOUNDFONT_DIRS, FluidSynthRenderer, MidiEvent, PluginFailed, SoundFontLibrary, parse_midi
from renderers.instrumented import render_with_instruments
from renderers.plugins import PluginFormat, PluginSound, open_renderer

JX10 = PluginSound(PluginFormat.LV2, "http://drobilla.net/plugins/mda/JX10")
PIANO = PluginSound(PluginFormat.LV2, "http://drobilla.net/plugins/mda/Piano")
ORGAN = PluginSound(PluginFormat.LV2, "http://gareus.org/oss/lv2/b_synth")
ZYN_LEAD = PluginSound(PluginFormat.LV2, "http://zynaddsubfx.sourceforge.net", "Laba170bank: 0005-BrightLead.xiz")
SILENT = PluginSound(PluginFormat.LV2, "urn:ardour:a-fluidsynth")  # plays nothing until given a SoundFont file

Audio = npt.NDArray[np.float32]


class InProcessHost:
    """The real plugins, rendered in this process: what renderers.plugin_host's workers run."""

    def render(
        self,
        sound: PluginSound,
        events: Sequence[MidiEvent],
        sample_rate: int,
        seconds: float,
        *,
        deadline: float | None = None,
        label: str = "",
    ) -> Audio:
        renderer = open_renderer(sound, sample_rate)
        try:
            return renderer.render(events, seconds)
        finally:
            renderer.close()


@pytest.fixture(scope="module")
def song() -> bytes:
    return composer.compose(composer.SongRequest("synthwave with piano and bass, 110 BPM", bars=4)).midi


@pytest.fixture(scope="module")
def fonts() -> Iterator[dict[str, FluidSynthRenderer]]:
    library = SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS)
    with (
        FluidSynthRenderer(library.resolve("FluidR3_GM")) as fluid,
        FluidSynthRenderer(library.resolve("TimGM6mb")) as tim,
    ):
        yield {"FluidR3_GM": fluid, "TimGM6mb": tim}


def _energy(audio: Audio) -> npt.NDArray[np.float64]:
    """Per channel; unlike the RMS, the same whatever silence a render's tail keeps."""
    energy: npt.NDArray[np.float64] = np.sum(np.square(audio, dtype=np.float64), axis=0)
    return energy


def test_plugin_tracks_replace_their_soundfont_sound_and_the_stems_add_up(
    song: bytes, fonts: dict[str, FluidSynthRenderer]
) -> None:
    performance = parse_midi(song)
    names = [stem.name for stem in performance.stems]
    bass, keys = "Bass", "Chords"
    plain = fonts["FluidR3_GM"].render(performance)
    voices = {bass: JX10, keys: PIANO}
    rendered = render_with_instruments(performance, fonts["FluidR3_GM"], voices, InProcessHost())

    assert list(rendered.stems) == names
    np.testing.assert_allclose(sum(rendered.stems.values()), rendered.mix, atol=1e-5)
    for name in names:
        ours, theirs = rendered.stems[name] / rendered.gain, plain.stems[name] / plain.gain
        frames = min(len(ours), len(theirs))
        if name in voices:  # another sound at the SoundFont's level
            assert not np.allclose(ours[:frames], theirs[:frames], atol=1e-3)
            np.testing.assert_allclose(_energy(ours), _energy(theirs), rtol=0.01)
        else:
            np.testing.assert_allclose(ours[:frames], theirs[:frames], atol=1e-5)
    assert rendered.peak_dbfs == pytest.approx(-1.0, abs=0.01)


def test_a_render_with_plugins_is_repeatable(song: bytes, fonts: dict[str, FluidSynthRenderer]) -> None:
    performance = parse_midi(song)
    voices = {stem.name: JX10 for stem in performance.stems if stem.name != "Drums"}
    first = render_with_instruments(performance, fonts["FluidR3_GM"], voices, InProcessHost())
    second = render_with_instruments(performance, fonts["FluidR3_GM"], voices, InProcessHost())
    np.testing.assert_array_equal(first.mix, second.mix)


def test_a_track_on_another_soundfont_renders_with_that_font(song: bytes, fonts: dict[str, FluidSynthRenderer]) -> None:
    performance = parse_midi(song)
    drums = "Drums"
    rendered = render_with_instruments(performance, fonts["FluidR3_GM"], {drums: fonts["TimGM6mb"]}, InProcessHost())
    alone = fonts["TimGM6mb"].render(performance)
    ours, theirs = rendered.stems[drums] / rendered.gain, alone.stems[drums] / alone.gain
    frames = min(len(ours), len(theirs))
    np.testing.assert_allclose(ours[:frames], theirs[:frames], atol=1e-5)


def test_plugins_that_hear_only_the_first_channel_play_tracks_on_any_channel(
    song: bytes, fonts: dict[str, FluidSynthRenderer]
) -> None:
    performance = parse_midi(song)
    lead, pad = "Lead", "Pad"  # channels 3 and 4 of the file: ZynAddSubFX and setBfree's upper manual hear channel 1
    assert {event.channel for stem in performance.stems if stem.name in (lead, pad) for event in stem.events} == {2, 3}
    rendered = render_with_instruments(performance, fonts["FluidR3_GM"], {lead: ZYN_LEAD, pad: ORGAN}, InProcessHost())
    assert np.all(_energy(rendered.stems[lead]) > 0)
    assert np.all(_energy(rendered.stems[pad]) > 0)


def test_a_plugin_that_plays_nothing_fails_its_track_by_name(song: bytes, fonts: dict[str, FluidSynthRenderer]) -> None:
    performance = parse_midi(song)
    bass = "Bass"
    with pytest.raises(PluginFailed, match=f"track '{bass}'.*a-fluidsynth.*made no sound"):
        render_with_instruments(performance, fonts["FluidR3_GM"], {bass: SILENT}, InProcessHost())
