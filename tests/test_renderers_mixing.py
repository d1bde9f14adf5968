"""Tests of a render's mixing (renderers.mixing: gain, reverb, chorus, loudness target, peak ceiling) with real
FluidSynth, and of the uploaded-SoundFont store and its file check (issue #11)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from test_renderers import BAND, song

from dgxmusic.errors import FieldError
from renderers import (
    DEFAULT_SOUNDFONT_DIRS,
    FluidSynthRenderer,
    InvalidSoundFont,
    MixSettings,
    SoundFontLibrary,
    SoundFontNotFound,
    check_soundfont_file,
    integrated_loudness,
    parse_midi,
    uploaded_path,
)
from renderers.studio import MAX_UPLOADED_LOADED, Studio

SF2_DIR = DEFAULT_SOUNDFONT_DIRS[0]


@pytest.fixture(scope="module")
def renderer() -> Iterator[FluidSynthRenderer]:
    with FluidSynthRenderer(SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS).resolve("TimGM6mb")) as renderer:
        yield renderer


def peak_dbfs(audio: npt.NDArray[np.float32]) -> float:
    return float(20 * np.log10(np.max(np.abs(audio))))


@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_a_loudness_target_is_met_within_half_an_lu_without_passing_the_ceiling(
    renderer: FluidSynthRenderer, target: float
) -> None:
    rendered = renderer.render(parse_midi(song(BAND, bars=4)), mixing=MixSettings(loudness_lufs=target))
    measured = integrated_loudness(rendered.mix, rendered.sample_rate)
    assert measured is not None
    assert measured == pytest.approx(target, abs=0.5)
    assert rendered.loudness_lufs == pytest.approx(measured)
    assert peak_dbfs(rendered.mix) <= -1.0


def test_the_ceiling_wins_over_a_loudness_the_peak_cannot_allow(renderer: FluidSynthRenderer) -> None:
    rendered = renderer.render(parse_midi(song(BAND)), mixing=MixSettings(loudness_lufs=-5.0, peak_ceiling_dbfs=-3.0))
    assert peak_dbfs(rendered.mix) == pytest.approx(-3.0, abs=0.01)
    assert rendered.loudness_lufs is not None
    assert rendered.loudness_lufs < -5.5


def test_gain_lowers_the_whole_render_and_the_stems_still_add_up(renderer: FluidSynthRenderer) -> None:
    performance = parse_midi(song(BAND))
    plain = renderer.render(performance)
    quieter = renderer.render(performance, mixing=MixSettings(gain_db=-6.0))
    assert peak_dbfs(quieter.mix) == pytest.approx(peak_dbfs(plain.mix) - 6.0, abs=0.01)
    total = np.sum(list(quieter.stems.values()), axis=0)
    np.testing.assert_allclose(total, quieter.mix, atol=1e-6)


def test_reverb_and_chorus_off_shorten_the_tail_and_change_the_sound(renderer: FluidSynthRenderer) -> None:
    performance = parse_midi(song(BAND))
    wet = renderer.render(performance, mixing=MixSettings(reverb_level=1.0, reverb_room_size=1.0))
    dry = renderer.render(performance, mixing=MixSettings(reverb_level=0.0, chorus_level=0.0))
    assert len(dry.mix) < len(wet.mix)
    assert not np.allclose(dry.mix[: len(dry.mix) // 2], wet.mix[: len(dry.mix) // 2], atol=1e-3)
    total = np.sum(list(dry.stems.values()), axis=0)
    np.testing.assert_allclose(total, dry.mix, atol=1e-6)


def test_default_mixing_is_the_peak_normalised_render(renderer: FluidSynthRenderer) -> None:
    performance = parse_midi(song(BAND))
    np.testing.assert_array_equal(renderer.render(performance).mix, renderer.render(performance, mixing=None).mix)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"gain_db": 30.0}, "gain_db"),
        ({"reverb_level": 1.5}, "reverb_level"),
        ({"reverb_room_size": -0.1}, "reverb_room_size"),
        ({"chorus_level": 11.0}, "chorus_level"),
        ({"loudness_lufs": 0.0}, "loudness_lufs"),
        ({"loudness_lufs": float("nan")}, "loudness_lufs"),
        ({"peak_ceiling_dbfs": 0.5}, "peak_ceiling_dbfs"),
    ],
)
def test_out_of_range_settings_name_their_field(given: dict[str, float], field: str) -> None:
    with pytest.raises(FieldError) as caught:
        MixSettings(**given)
    assert caught.value.field == field


def test_settings_travel_as_json_and_refuse_unknown_names() -> None:
    settings = MixSettings(gain_db=-3, reverb_level=0, loudness_lufs=-14)
    assert MixSettings.from_json(settings.to_json()) == settings
    assert MixSettings.from_json(b"") == MixSettings()
    with pytest.raises(FieldError, match="unknown render option"):
        MixSettings.from_json('{"path": "/etc/passwd"}')
    with pytest.raises(FieldError) as caught:
        MixSettings.from_json('{"gain_db": "loud"}')
    assert caught.value.field == "gain_db"


def test_reverb_zero_turns_fluidsynths_reverb_off() -> None:
    assert MixSettings(reverb_level=0, chorus_level=0).synth_settings() == {
        "synth.reverb.active": 0,
        "synth.reverb.level": 0,
        "synth.chorus.active": 0,
        "synth.chorus.level": 0,
    }
    assert MixSettings().synth_settings() == {}


# --- uploaded SoundFonts ------------------------------------------------------------------------------------


def test_a_real_soundfont_passes_the_check() -> None:
    check_soundfont_file(SF2_DIR / "TimGM6mb.sf2")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MThd\x00\x00\x00\x06",
        b"RIFF\x04\x00\x00\x00WAVE",
        b"RIFF\x04\x00\x00\x00sfbk",
        b"RIFF\x10\x00\x00\x00sfbk" + b"\x00" * 8,
    ],
)
def test_what_is_not_a_loadable_soundfont_is_refused_naming_the_field(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "upload"
    path.write_bytes(data)
    with pytest.raises(InvalidSoundFont) as caught:
        check_soundfont_file(path)
    assert caught.value.field == "soundfont"


def test_an_uploaded_font_is_found_by_its_sha256_only(tmp_path: Path) -> None:
    source = SF2_DIR / "TimGM6mb.sf2"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    shutil.copyfile(source, uploaded_path(tmp_path, digest))
    library = SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS, uploads=tmp_path)
    found = library.resolve(f"SHA256:{digest.upper()}")
    assert found.path == tmp_path / f"{digest}.sf2"
    assert found.name == f"sha256:{digest}"
    with pytest.raises(SoundFontNotFound):
        library.resolve("sha256:" + "0" * 64)
    with pytest.raises(SoundFontNotFound):
        library.resolve("sha256:../../etc/passwd")
    with pytest.raises(ValueError, match="not a sha256"):
        uploaded_path(tmp_path, "../x")


# --- the fluidsynth model keeps few uploaded fonts loaded ---------------------------------------------------


class _Loaded:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_studio_keeps_only_the_most_recently_used_uploaded_fonts_loaded() -> None:
    studio = Studio(SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS))
    own = {(f"sha256:{n:064x}", 44100): _Loaded() for n in range(MAX_UPLOADED_LOADED)}
    server = {("FluidR3_GM", 44100): _Loaded()}
    studio._renderers = {**server, **own}  # type: ignore[dict-item]
    studio._make_room_for(studio.library.resolve("TimGM6mb"))
    assert not any(loaded.closed for loaded in studio._renderers.values())  # type: ignore[attr-defined]
    newest = studio.library.resolve("TimGM6mb")
    studio._make_room_for(type(newest)(name="sha256:" + "f" * 64, path=newest.path))
    closed = [key for key, loaded in {**server, **own}.items() if loaded.closed]
    assert closed == [(f"sha256:{0:064x}", 44100)]
    assert closed[0] not in studio._renderers
