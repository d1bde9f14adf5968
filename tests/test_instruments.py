"""The instrument catalog, choices and sets (renderers.instruments) against the real Debian plugins (mda, setBfree,
avldrums, ZynAddSubFX) and SoundFonts, with stems of songs the composer writes."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from google.protobuf import json_format

import composer
from dgxmusic.errors import FieldError
from dgxmusic.v1 import music_service_pb2 as pb
from renderers import (
    INSTRUMENT_SETS,
    InstrumentCatalog,
    InstrumentChoice,
    InstrumentNotFound,
    InstrumentRequest,
    PluginNotFound,
    SoundFontLibrary,
    Stem,
    assign,
    parse_choice,
    parse_midi,
)
from renderers.instruments import STUDIO, Fallback, slug
from renderers.plugins import PluginFormat, PluginInfo, PluginSound, scan_plugins
from renderers.soundfonts import DEFAULT_SOUNDFONT_DIRS

MDA = Path("/usr/lib/lv2/mda.lv2")
ZYN_PRESETS = Path("/usr/lib/lv2/ZynAddSubFX.lv2presets/manifest.ttl")
PIANO_URI = "http://drobilla.net/plugins/mda/Piano"
INSTALLED = {
    "lv2:mda-piano",
    "lv2:mda-epiano",
    "lv2:mda-jx10",
    "lv2:mda-dx10",
    "lv2:setbfree-dsp-tonewheel-organ",
    "lv2:black-pearl-drumkit",
    "lv2:zynaddsubfx",
}

SYNTH_BASS = "lv2:zynaddsubfx/Bass: 0003-Bass 3 _analog_.xiz"  # the studio set's Synth Bass 1


def preset_labels(ttl: Path) -> tuple[str, ...]:
    """The rdfs:labels of the presets a Debian package's Turtle file lists (ZynAddSubFX's banks left out)."""
    text = ttl.read_text()
    banks = set(re.findall(r'a pset:Bank ;\s*rdfs:label "([^"]*)"', text))
    return tuple(label for label in re.findall(r'rdfs:label "([^"]*)"', text) if label not in banks)


# By plugin URI.
TTL_PRESETS = {
    f"http://drobilla.net/plugins/mda/{plugin}": preset_labels(MDA / f"{plugin}-presets.ttl")
    for plugin in ("Piano", "EPiano", "JX10", "DX10")
} | {"http://zynaddsubfx.sourceforge.net": preset_labels(ZYN_PRESETS)}


@pytest.fixture(scope="module")
def plugins() -> list[PluginInfo]:
    return scan_plugins()


@pytest.fixture(scope="module")
def fonts() -> SoundFontLibrary:
    return SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS)


@pytest.fixture(scope="module")
def catalog(fonts: SoundFontLibrary, plugins: list[PluginInfo]) -> InstrumentCatalog:
    return InstrumentCatalog(fonts, plugins)


@pytest.fixture(scope="module")
def with_presets(fonts: SoundFontLibrary, plugins: list[PluginInfo]) -> InstrumentCatalog:
    """The catalog as it is once the scan lists the presets of the packages' Turtle files (whether or not it does
    yet), so the sets' presets are checked against the real labels."""
    listed = [
        info if info.presets else dataclasses.replace(info, presets=TTL_PRESETS.get(info.locator, ()))
        for info in plugins
    ]
    return InstrumentCatalog(fonts, listed)


def stems_of(prompt: str) -> tuple[Stem, ...]:
    song = composer.compose(composer.SongRequest(prompt, seed=1, bars=4))
    return parse_midi(song.midi).stems


@pytest.fixture(scope="module")
def house() -> tuple[Stem, ...]:
    """Drums, Bass (Synth Bass 1), Chords (Acoustic Grand Piano), Lead (Lead 2), Pad (Pad 2), FX (Reverse Cymbal)."""
    stems = stems_of("house")
    assert [stem.name for stem in stems] == ["Drums", "Bass", "Chords", "Lead", "Pad", "FX"]
    return stems


@pytest.fixture(scope="module")
def trap() -> tuple[Stem, ...]:
    """Drums, 808 (Synth Bass 1), Chords (String Ensemble 1), Lead (Music Box)."""
    stems = stems_of("trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor")
    assert [stem.name for stem in stems] == ["Drums", "808", "Chords", "Lead"]
    return stems


# -- names ---------------------------------------------------------------------------------------------------------


def test_the_installed_plugins_have_readable_unique_names(catalog: InstrumentCatalog) -> None:
    names = [instrument.name for instrument in catalog.instruments()]
    assert set(names) >= INSTALLED
    assert len(names) == len(set(names))
    assert {"sf2:FluidR3_GM", "sf2:TimGM6mb"} <= set(names)
    assert names.index("sf2:FluidR3_GM") < names.index("lv2:mda-piano")  # SoundFonts first
    plugins = [name for name in names if not name.startswith("sf2:")]
    assert plugins == sorted(plugins)
    assert "lv2:black-pearl-drumkit-multi" not in names  # nine outputs: the hosts hear the first two only


def test_names_do_not_depend_on_the_order_of_the_scan(fonts: SoundFontLibrary, plugins: list[PluginInfo]) -> None:
    forward = InstrumentCatalog(fonts, plugins).instruments()
    backward = InstrumentCatalog(fonts, list(reversed(plugins))).instruments()
    assert forward == backward


def test_plugins_with_one_title_are_told_apart_by_their_uris(
    fonts: SoundFontLibrary, plugins: list[PluginInfo]
) -> None:
    twins = [
        dataclasses.replace(info, title="MDA Keys") for info in plugins if info.title in ("MDA Piano", "MDA ePiano")
    ]
    catalog = InstrumentCatalog(fonts, [*twins, *plugins])
    names = {
        instrument.locator: instrument.name for instrument in catalog.instruments() if instrument.title == "MDA Keys"
    }
    assert names == {PIANO_URI: "lv2:mda-keys-piano", "http://drobilla.net/plugins/mda/EPiano": "lv2:mda-keys-epiano"}
    same_tail = [
        PluginInfo(PluginFormat.LV2, f"urn:test:{place}/Organ", "Organ") for place in ("here", "there")
    ]  # the last parts agree too: a digest of each URI tells them apart
    digested = [instrument.name for instrument in InstrumentCatalog(fonts, same_tail).instruments()]
    assert len(set(digested[-2:])) == 2
    assert all(re.fullmatch(r"lv2:organ-organ-[0-9a-f]{6}", name) for name in digested[-2:])


def test_slugs_read_like_their_titles() -> None:
    assert slug("setBfree DSP Tonewheel Organ") == "setbfree-dsp-tonewheel-organ"
    assert slug("  Crème Brûlée (Synth) v2! ") == "creme-brulee-synth-v2"


# -- resolving -----------------------------------------------------------------------------------------------------


def test_every_instrument_and_preset_resolves_to_its_own_name(with_presets: InstrumentCatalog) -> None:
    presets = 0
    for instrument in with_presets.instruments():
        assert with_presets.resolve(instrument.name).instrument == instrument
        assert with_presets.resolve(instrument.name.upper()).name == instrument.name
        if instrument.format == "lv2":
            assert with_presets.resolve(f"lv2:{instrument.locator}").name == instrument.name
        for preset in instrument.presets:
            voice = with_presets.resolve(f"{instrument.name}/{preset.upper()}")
            assert (voice.instrument, voice.preset, voice.name) == (instrument, preset, f"{instrument.name}/{preset}")
            presets += 1
    assert presets > 1000  # mda's and ZynAddSubFX's


def test_a_preset_follows_an_lv2_uri_too(with_presets: InstrumentCatalog) -> None:
    voice = with_presets.resolve("lv2:http://drobilla.net/plugins/mda/JX10/analog bass")
    assert voice.name == "lv2:mda-jx10/Analog Bass"
    assert voice.plugin_sound() == PluginSound(PluginFormat.LV2, "http://drobilla.net/plugins/mda/JX10", "Analog Bass")


def test_a_soundfont_voice_names_its_font(catalog: InstrumentCatalog) -> None:
    voice = catalog.resolve("sf2:timgm6mb.sf2")
    assert (voice.name, voice.soundfont) == ("sf2:TimGM6mb", "TimGM6mb")
    with pytest.raises(ValueError, match="SoundFont"):
        voice.plugin_sound()
    assert catalog.resolve("lv2:mda-piano").soundfont is None


def test_an_unknown_instrument_is_refused_with_close_names(catalog: InstrumentCatalog) -> None:
    with pytest.raises(InstrumentNotFound) as refused:
        catalog.resolve("lv2:mda-pianno")
    assert isinstance(refused.value, FieldError)
    assert isinstance(refused.value, LookupError)
    assert refused.value.field == "instruments"
    assert refused.value.suggestions[0] == "lv2:mda-piano"
    with pytest.raises(InstrumentNotFound, match="lv2:zynaddsubfx"):
        catalog.resolve("vst2:zynadd", field="instruments[3].instrument")
    with pytest.raises(InstrumentNotFound, match="sf2:FluidR3_GM") as font:
        catalog.resolve("sf2:fluid")
    assert not isinstance(font.value, PluginNotFound)


def test_an_unknown_preset_is_refused_with_some_that_exist(with_presets: InstrumentCatalog) -> None:
    with pytest.raises(InstrumentNotFound) as refused:
        with_presets.resolve("lv2:mda-jx10/Analogue Bass")
    assert "Analog Bass" in refused.value.suggestions
    with pytest.raises(InstrumentNotFound) as unlike:
        with_presets.resolve("lv2:mda-epiano/zzzz")
    assert sorted(unlike.value.suggestions) == sorted(TTL_PRESETS["http://drobilla.net/plugins/mda/EPiano"])
    with pytest.raises(InstrumentNotFound, match="takes no preset"):
        with_presets.resolve("sf2:FluidR3_GM/Piano")


@pytest.mark.parametrize("text", ["", "mda-piano", "vst3:something", "lv2:", "lv2:   "])
def test_a_text_that_is_no_instrument_name_is_refused(catalog: InstrumentCatalog, text: str) -> None:
    with pytest.raises(FieldError) as refused:
        catalog.resolve(text, field="instruments[0].instrument")
    assert refused.value.field == "instruments[0].instrument"
    assert not isinstance(refused.value, InstrumentNotFound)


# -- choices -------------------------------------------------------------------------------------------------------


def test_a_choice_parses_from_the_command_line() -> None:
    assert parse_choice(" Bass = lv2:mda-jx10/Analog Bass") == InstrumentChoice("Bass", "lv2:mda-jx10/Analog Bass")
    assert parse_choice("program:38=lv2:a=b").instrument == "lv2:a=b"  # split at the first "="


@pytest.mark.parametrize(
    "text", ["Bass", "=lv2:mda-piano", "Bass=", " = ", "Bass=mda-piano", "program:128=lv2:x", "program:x=lv2:x"]
)
def test_a_malformed_choice_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(FieldError) as refused:
        parse_choice(text)
    assert refused.value.field == "instruments"


def test_selectors_pick_by_name_program_family_and_drums(catalog: InstrumentCatalog, house: tuple[Stem, ...]) -> None:
    def picked(selector: str) -> list[str]:
        voices = assign(house, [InstrumentChoice(selector, "lv2:mda-piano")], None, catalog).voices
        return [name for name, voice in voices.items() if voice is not None]

    assert picked("bass") == ["Bass"]  # its name, and Synth Bass 1's family
    assert picked("CHORDS") == ["Chords"]
    assert picked("drums") == ["Drums"]
    assert picked("piano") == ["Chords"]  # Acoustic Grand Piano; the drums' program 0 is a kit, not a piano
    assert picked("program:0") == ["Chords"]
    assert picked("program:38") == picked("synth bass 1") == ["Bass"]
    assert picked("pad") == picked("Synth Pad") == picked("Pad 2 (warm)") == ["Pad"]
    assert picked("lead") == picked("Lead 2 (sawtooth)") == ["Lead"]


def test_name_beats_program_beats_family_and_the_first_wins_among_equals(
    catalog: InstrumentCatalog, house: tuple[Stem, ...]
) -> None:
    def played(*choices: tuple[str, str]) -> dict[str, str | None]:
        voices = assign(house, [InstrumentChoice(*choice) for choice in choices], None, catalog).voices
        return {name: voice.name if voice else None for name, voice in voices.items()}

    by_kind = [("percussive", "sf2:TimGM6mb"), ("Reverse Cymbal", "lv2:mda-dx10"), ("fx", "lv2:mda-piano")]
    assert played(*by_kind)["FX"] == "lv2:mda-piano"  # its name
    assert played(*by_kind[:2])["FX"] == "lv2:mda-dx10"  # its program
    assert played(*by_kind[:1])["FX"] == "sf2:TimGM6mb"  # its family
    assert played(("Synth Bass 1", "lv2:mda-dx10"), ("bass", "lv2:zynaddsubfx"))["Bass"] == "lv2:zynaddsubfx"
    assert played(("Pad 2 (warm)", "lv2:mda-epiano"), ("program:89", "lv2:mda-jx10"))["Pad"] == "lv2:mda-epiano"
    assert played(("program:89", "lv2:mda-jx10"), ("Pad 2 (warm)", "lv2:mda-epiano"))["Pad"] == "lv2:mda-jx10"
    assert played(("pad", "lv2:mda-jx10"), ("Pad", "lv2:mda-dx10"))["Pad"] == "lv2:mda-jx10"  # both by name


def test_a_choice_that_picks_no_track_is_refused_naming_the_tracks(
    catalog: InstrumentCatalog, house: tuple[Stem, ...]
) -> None:
    choices = [InstrumentChoice("Bass", "lv2:mda-jx10"), InstrumentChoice("Basss", "lv2:mda-jx10")]
    with pytest.raises(FieldError) as refused:
        assign(house, choices, None, catalog)
    assert refused.value.field == "instruments[1].track"
    assert "'Basss'" in refused.value.reason
    assert "'Drums', 'Bass', 'Chords', 'Lead', 'Pad', 'FX'" in refused.value.reason
    with pytest.raises(FieldError, match="program:56") as no_trumpet:
        assign(house, [InstrumentChoice("program:56", "lv2:mda-jx10")], None, catalog)
    assert no_trumpet.value.field == "instruments[0].track"


def test_a_choice_of_an_instrument_not_here_names_its_index(
    catalog: InstrumentCatalog, house: tuple[Stem, ...]
) -> None:
    choices = [InstrumentChoice("Bass", "lv2:mda-jx10"), InstrumentChoice("Pad", "lv2:mda-jx11")]
    with pytest.raises(InstrumentNotFound) as refused:
        assign(house, choices, None, catalog)
    assert refused.value.field == "instruments[1].instrument"


# -- instrument sets -----------------------------------------------------------------------------------------------


def test_the_studio_set_is_written_against_real_names(with_presets: InstrumentCatalog) -> None:
    for entry in STUDIO.entries:
        assert InstrumentChoice.parse_track(entry.track).programs or entry.track == "drums"
        for text in entry.instruments:
            assert with_presets.resolve(text).name == text


def test_the_studio_set_plays_a_trap_beat_on_plugins(with_presets: InstrumentCatalog, trap: tuple[Stem, ...]) -> None:
    assignment = assign(trap, [], "studio", with_presets)
    assert {name: voice.name if voice else None for name, voice in assignment.voices.items()} == {
        "Drums": "lv2:black-pearl-drumkit",
        "808": SYNTH_BASS,
        "Chords": None,  # String Ensemble 1: no plugin covers it
        "Lead": None,  # Music Box
    }
    assert assignment.fallbacks == ()


def test_the_studio_set_falls_back_to_the_soundfont_and_says_so(
    fonts: SoundFontLibrary, plugins: list[PluginInfo], catalog: InstrumentCatalog, trap: tuple[Stem, ...]
) -> None:
    without_drums = InstrumentCatalog(fonts, [info for info in plugins if "avldrums" not in info.locator])
    assignment = assign(trap, [], "studio", without_drums)
    assert assignment.voices["Drums"] is None
    assert Fallback("Drums", "lv2:black-pearl-drumkit") in assignment.fallbacks
    bass = assign(trap, [], "studio", catalog).voices["808"]
    assert bass is not None
    assert bass.name == SYNTH_BASS


def test_choices_override_the_set(with_presets: InstrumentCatalog, trap: tuple[Stem, ...]) -> None:
    choices = [InstrumentChoice("drums", "sf2:TimGM6mb"), InstrumentChoice("Lead", "lv2:mda-epiano/bright")]
    voices = assign(trap, choices, "studio", with_presets).voices
    assert {name: voice.name if voice else None for name, voice in voices.items()} == {
        "Drums": "sf2:TimGM6mb",
        "808": SYNTH_BASS,
        "Chords": None,
        "Lead": "lv2:mda-epiano/Bright",
    }


def test_the_soundfont_set_and_no_set_play_the_soundfont(catalog: InstrumentCatalog, trap: tuple[Stem, ...]) -> None:
    for instrument_set in (None, "", "soundfont"):
        assert set(assign(trap, [], instrument_set, catalog).voices.values()) == {None}


def test_an_unknown_set_is_refused_listing_the_sets(catalog: InstrumentCatalog, trap: tuple[Stem, ...]) -> None:
    with pytest.raises(FieldError) as refused:
        assign(trap, [], "Studio", catalog)
    assert refused.value.field == "instrument_set"
    assert "studio, soundfont" in refused.value.reason


def test_a_set_lists_what_it_plays_here_and_what_is_missing(
    with_presets: InstrumentCatalog, fonts: SoundFontLibrary
) -> None:
    installed = with_presets.installed(STUDIO)
    assert InstrumentChoice("drums", "lv2:black-pearl-drumkit") in installed.choices
    assert InstrumentChoice("Synth Bass 1", SYNTH_BASS) in installed.choices
    assert installed.missing == ()
    nothing = InstrumentCatalog(fonts, []).installed(STUDIO)
    assert nothing.choices == ()
    assert nothing.missing[:2] == ("lv2:black-pearl-drumkit", "lv2:mda-piano")


# -- JSON ----------------------------------------------------------------------------------------------------------


def test_an_instrument_request_round_trips_through_json() -> None:
    request = InstrumentRequest((InstrumentChoice("Bass", "lv2:mda-jx10/Analog Bass"),), "studio")
    assert InstrumentRequest.from_json(request.to_json()) == request
    assert InstrumentRequest.from_json(request.to_json().encode()) == request
    assert InstrumentRequest.from_json("") is None
    assert InstrumentRequest.from_json(InstrumentRequest().to_json()) is None


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[]", "instruments"),
        ("{", "instruments"),
        ('{"choices": [], "mixing": 1}', "instruments"),
        ('{"choices": [{"track": "Bass"}]}', "instruments"),
        ('{"choices": [{"track": "Bass", "instrument": 3}]}', "instruments"),
        ('{"instrument_set": 3}', "instrument_set"),
    ],
)
def test_a_malformed_instrument_request_is_refused(text: str, field: str) -> None:
    with pytest.raises(FieldError) as refused:
        InstrumentRequest.from_json(text)
    assert refused.value.field == field


def test_the_catalog_is_a_list_instruments_response(catalog: InstrumentCatalog) -> None:
    response = json_format.ParseDict(json.loads(catalog.to_json()), pb.ListInstrumentsResponse())
    by_name = {instrument.name: instrument for instrument in response.instruments}
    assert by_name["lv2:mda-piano"].format == pb.INSTRUMENT_FORMAT_LV2
    assert by_name["lv2:mda-piano"].uri == PIANO_URI
    assert by_name["sf2:FluidR3_GM"].format == pb.INSTRUMENT_FORMAT_SOUNDFONT
    assert [name for name, instrument in by_name.items() if instrument.is_default] == ["sf2:FluidR3_GM"]
    assert [instrument_set.name for instrument_set in response.instrument_sets] == list(INSTRUMENT_SETS)
    studio = response.instrument_sets[0]
    assert (studio.choices[0].track, studio.choices[0].instrument) == ("drums", "lv2:black-pearl-drumkit")
