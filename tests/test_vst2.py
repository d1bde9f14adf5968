"""Tests of renderers.vst2 with a real VST2 instrument: Debian's ZynAddSubFX (zynaddsubfx-vst), its default patch.

ZynAddSubFX's VST2 offers one program, "Default", so no test here can show a second program changing the sound.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from renderers import EventKind, MidiEvent, PluginNotFound, PresetNotFound, RenderError
from renderers.lv2 import Note
from renderers.plugins import PluginFormat, PluginInfo, PluginSound, open_renderer, scan_plugins
from renderers.vst2 import DEFAULT_VST2_DIRS, VST2Renderer, vst2_dirs, vst2_instruments

ZYN = "/usr/lib/vst/ZynAddSubFX.so"
RATE = 44100
# ZynAddSubFX's instances differ by about 1e-17 at a note's first sample; anything audible differs by far more.
SAME = 1e-12


def strongest_hz(audio: npt.NDArray[np.float32], start: float, seconds: float) -> float:
    window = audio[round(start * RATE) : round((start + seconds) * RATE), 0].astype(np.float64)
    magnitudes = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.fft.rfftfreq(len(window), 1 / RATE)[np.argmax(magnitudes)])


@pytest.fixture(scope="module")
def zyn() -> Iterator[VST2Renderer]:
    with VST2Renderer(ZYN, RATE) as renderer:
        yield renderer


def test_the_instrument_list_holds_zynaddsubfx_with_its_program_and_stereo_outputs() -> None:
    instruments = {instrument.path: instrument for instrument in vst2_instruments([Path("/usr/lib/vst")])}
    assert instruments[ZYN].name == "ZynAddSubFX"
    assert instruments[ZYN].presets == ("Default",)
    assert instruments[ZYN].audio_outputs == 2
    assert "/usr/lib/vst/ZynReverb.so" not in instruments  # an effect: audio in


def test_a_file_that_is_not_a_plugin_is_left_out_of_the_scan(tmp_path: Path) -> None:
    (tmp_path / "broken.so").write_bytes(b"not a shared library")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "Zyn.so").symlink_to(ZYN)
    assert [instrument.name for instrument in vst2_instruments([tmp_path])] == ["ZynAddSubFX"]


def test_vst_path_replaces_the_default_directories(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VST_PATH", f"{tmp_path}:/usr/lib/vst")
    assert vst2_dirs() == (tmp_path, Path("/usr/lib/vst"))
    monkeypatch.delenv("VST_PATH")
    assert vst2_dirs() == DEFAULT_VST2_DIRS


def test_middle_c_sounds_at_its_pitch_and_time_with_silence_before(zyn: VST2Renderer) -> None:
    audio = zyn.render([Note(60, 1.0, 2.0)], 2.5)
    assert audio.shape == (round(2.5 * RATE), 2)
    assert audio.dtype == np.float32
    onset = round(1.0 * RATE)
    assert np.abs(audio[:onset]).max() < 1e-6
    loud = np.flatnonzero(np.abs(audio[:, 0]) > 0.01)
    assert 0 <= loud[0] - onset < round(0.01 * RATE)
    assert abs(strongest_hz(audio, 1.1, 0.8) - 261.63) < 2.0


def test_pitch_bend_and_controllers_reach_the_plugin(zyn: VST2Renderer) -> None:
    bent = [
        MidiEvent(0.0, EventKind.PITCH_BEND, 0, 16383),  # full up: ZynAddSubFX bends 2 semitones by default
        MidiEvent(0.0, EventKind.CONTROL_CHANGE, 0, 7, 127),
        MidiEvent(0.1, EventKind.NOTE_ON, 0, 60, 100),
        MidiEvent(1.0, EventKind.NOTE_OFF, 0, 60),
    ]
    assert abs(strongest_hz(zyn.render(bent, 1.2), 0.2, 0.8) - 293.66) < 3.0


def test_the_same_input_renders_the_same_samples_again_and_in_a_new_renderer(zyn: VST2Renderer) -> None:
    notes = [Note(48, 0.0, 0.7, 90), Note(55, 0.25, 1.0, 70), Note(72, 0.5, 1.5, 110)]
    first = zyn.render(notes, 2.0)
    assert np.abs(first).max() > 0.01
    np.testing.assert_allclose(zyn.render(notes, 2.0), first, rtol=0, atol=SAME)
    with VST2Renderer(ZYN, RATE, preset="Default") as fresh:
        np.testing.assert_allclose(fresh.render(notes, 2.0), first, rtol=0, atol=SAME)


def test_an_unknown_program_is_refused_naming_the_available_ones() -> None:
    with pytest.raises(PresetNotFound, match="'Default'") as raised:
        VST2Renderer(ZYN, RATE, preset="Grand Piano")
    assert raised.value.field == "instrument"
    assert raised.value.available == ["Default"]


def test_a_missing_library_is_refused_naming_it() -> None:
    with pytest.raises(PluginNotFound, match="NoSuchSynth") as raised:
        VST2Renderer("/usr/lib/vst/NoSuchSynth.so", RATE)
    assert raised.value.field == "instrument"


def test_an_effect_is_refused_as_not_an_instrument() -> None:
    with pytest.raises(RenderError, match="not an instrument"):
        VST2Renderer("/usr/lib/vst/ZynReverb.so", RATE)


def test_a_closed_renderer_refuses_to_render() -> None:
    renderer = VST2Renderer(ZYN, RATE)
    renderer.close()
    renderer.close()
    with pytest.raises(RenderError, match="closed"):
        renderer.render([Note(60, 0.0, 0.5)], 1.0)


def test_the_plugin_scan_lists_vst2_instruments_after_lv2_ones_with_their_presets() -> None:
    found = scan_plugins(vst2_dirs=[Path("/usr/lib/vst")])
    vst2 = {info.locator: info for info in found if info.format is PluginFormat.VST2}
    assert vst2[ZYN] == PluginInfo(PluginFormat.VST2, ZYN, "ZynAddSubFX", ("Default",), 2)
    lv2 = {info.locator: info for info in found if info.format is PluginFormat.LV2}
    assert "303 Saw Bass" in lv2["http://drobilla.net/plugins/mda/JX10"].presets


def test_a_vst2_sound_opens_a_vst2_renderer_with_its_program() -> None:
    renderer = open_renderer(PluginSound(PluginFormat.VST2, ZYN, "Default"), RATE)
    try:
        assert isinstance(renderer, VST2Renderer)
        assert np.abs(renderer.render([Note(60, 0.0, 0.5)], 0.6)).max() > 0.01
    finally:
        renderer.close()
