"""The instruments a track can play, by stable names: the library's SoundFonts and the installed LV2 and VST2
instrument plugins with their presets (`InstrumentCatalog`); a request's instrument per track
("Bass=lv2:mda-jx10/Analog Bass", `InstrumentChoice`) and the built-in instrument sets (`INSTRUMENT_SETS`); and what
each track of a song plays once both are applied (`assign`).

Names. A SoundFont is "sf2:<its name>" ("sf2:FluidR3_GM"). A plugin is "<format>:<slug of its title>", the slug being
the title in lowercase ASCII with every run of other characters than a-z and 0-9 made one "-" and none at either end:
"MDA Piano" is "lv2:mda-piano", "setBfree DSP Tonewheel Organ" "lv2:setbfree-dsp-tonewheel-organ", "ZynAddSubFX"
"vst2:zynaddsubfx". Plugins of one format whose titles give the same slug each add "-" and the slug of their locator's
last part (an LV2 URI's after its last "/" or "#", a VST2 library's file name without ".so"), and where that is still
not enough the first 6 hex digits of the locator's sha256: a name depends on which plugins are installed, never on
the order a scan finds them. A name followed by "/<preset label>" plays one of the instrument's presets. Names and
presets are matched in any case, and an LV2 plugin is also found by its URI ("lv2:http://drobilla.net/plugins/mda/Piano").
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from dgxmusic.errors import FieldError
from renderers.errors import InstrumentNotFound, SoundFontNotFound
from renderers.gm import DRUM_CHANNEL, GM_PROGRAM_NAMES
from renderers.midi import EventKind, Stem
from renderers.plugins import PluginFormat, PluginInfo, PluginSound
from renderers.soundfonts import SoundFontLibrary

SOUNDFONT_FORMAT = "sf2"
FORMATS: tuple[str, ...] = (SOUNDFONT_FORMAT, *(plugin_format.value for plugin_format in PluginFormat))
INSTRUMENTS_FIELD = "instruments"
INSTRUMENT_SET_FIELD = "instrument_set"
DEFAULT_INSTRUMENT_SET = "soundfont"
PROGRAM_PREFIX = "program:"
DRUMS_SELECTOR = "drums"

# General MIDI's sixteen families of eight programs, by the names a selector uses.
# fmt: off
GM_FAMILIES: Mapping[str, range] = MappingProxyType({
    family: range(8 * index, 8 * index + 8)
    for index, family in enumerate((
        "piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
        "reed", "pipe", "lead", "pad", "synth effects", "ethnic", "percussive", "sound effects",
    ))
})
# fmt: on
_FAMILY_ALIASES = {"synth lead": "lead", "synth pad": "pad"}  # the GM table's own words for two of them
_PROGRAMS_BY_NAME = {name.casefold(): program for program, name in enumerate(GM_PROGRAM_NAMES)}

# How closely a selector picks a track: the lowest wins, then the first choice.
_BY_NAME, _BY_PROGRAM, _BY_KIND = 0, 1, 2

# dgxmusic.v1.InstrumentFormat's value names, as ListInstrumentsResponse's JSON writes them.
_WIRE_FORMATS = {
    SOUNDFONT_FORMAT: "INSTRUMENT_FORMAT_SOUNDFONT",
    PluginFormat.LV2.value: "INSTRUMENT_FORMAT_LV2",
    PluginFormat.VST2.value: "INSTRUMENT_FORMAT_VST2",
}
_SUGGESTIONS = 5
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Instrument:
    """An instrument a track can play: `name` is the stable name requests use, `format` "sf2", "lv2" or "vst2",
    `title` its own name, `locator` where it is (the SoundFont's name, an LV2 URI, a VST2 library's path) and
    `presets` the labels of its presets (LV2 presets, VST2 programs; a SoundFont lists none)."""

    name: str
    format: str
    title: str
    locator: str
    presets: tuple[str, ...] = ()

    @property
    def is_plugin(self) -> bool:
        return self.format != SOUNDFONT_FORMAT


@dataclass(frozen=True)
class Voice:
    """An instrument and the preset a track plays it with (one of its labels; None for the instrument's default)."""

    instrument: Instrument
    preset: str | None = None

    @property
    def name(self) -> str:
        """The canonical text that resolves to this voice: "lv2:mda-jx10/Analog Bass", "sf2:TimGM6mb"."""
        return f"{self.instrument.name}/{self.preset}" if self.preset is not None else self.instrument.name

    @property
    def soundfont(self) -> str | None:
        """The SoundFont's name (as SoundFontLibrary.resolve takes it) for a SoundFont voice; None for a plugin."""
        return None if self.instrument.is_plugin else self.instrument.locator

    def plugin_sound(self) -> PluginSound:
        """What a plugin host renders this voice with; ValueError for a SoundFont voice."""
        if not self.instrument.is_plugin:
            raise ValueError(f"{self.name} is a SoundFont, not a plugin")
        return PluginSound(PluginFormat(self.instrument.format), self.instrument.locator, self.preset)


class InstrumentRef(NamedTuple):
    """An instrument's text split at its format: "lv2:mda-jx10/Analog Bass" -> ("lv2", "mda-jx10/Analog Bass")."""

    format: str
    rest: str


@dataclass(frozen=True)
class TrackFacts:
    """What selectors look at in a track (a stem): its name, its General MIDI program (the first program change on
    a channel other than the drums', counted from 0; 0 without one) and whether it plays drums (notes on MIDI
    channel 10)."""

    name: str
    program: int
    is_drums: bool

    @classmethod
    def of(cls, stem: Stem) -> TrackFacts:
        notes = [event for event in stem.events if event.kind is EventKind.NOTE_ON and event.data2 > 0]
        programs = (
            event.data1
            for event in stem.events
            if event.kind is EventKind.PROGRAM_CHANGE and event.channel != DRUM_CHANNEL
        )
        return cls(stem.name, next(programs, 0), any(note.channel == DRUM_CHANNEL for note in notes))


@dataclass(frozen=True)
class TrackSelector:
    """Which tracks a choice picks. Every selector picks the track of its name (in any case). Besides, "drums" picks
    the drum tracks; "program:N" (N is 0-127, counted from 0 as MIDI sends it: "program:33" is Electric Bass
    (finger)) or a General MIDI program's name ("Electric Bass (finger)", any case) picks the tracks of that program;
    a GM family ("piano", "organ", "bass", "strings", "pad", "lead", ... see GM_FAMILIES) the tracks of its programs.
    A drum track is picked by its name or "drums" only. Picked by name beats by program beats by family or "drums"."""

    text: str
    programs: frozenset[int] = frozenset()
    by_family: bool = False
    drums: bool = False
    by_name: bool = True  # False for a set's entries: a composer's "Lead" may play a music box

    def rank(self, track: TrackFacts) -> int | None:
        """How closely this picks `track` (0 by its name, 1 by its program, 2 by its family or as drums; the lowest
        wins), None when it does not pick it."""
        if self.by_name and self.text.casefold() == track.name.casefold():
            return _BY_NAME
        if track.is_drums:
            return _BY_KIND if self.drums else None
        if track.program in self.programs:
            return _BY_KIND if self.by_family else _BY_PROGRAM
        return None


@dataclass(frozen=True)
class InstrumentChoice:
    """Play the tracks `track` picks (a TrackSelector's text) with `instrument` (an instrument's name, then
    "/<preset>" for one of its presets)."""

    track: str
    instrument: str

    @staticmethod
    def parse_track(text: str, field: str = INSTRUMENTS_FIELD) -> TrackSelector:
        """The selector `text` writes; FieldError naming `field` for an empty one or a "program:" that is not 0-127."""
        text = text.strip()
        key = text.casefold()
        if not key:
            raise FieldError(field, "names no track: give a track's name, 'drums', a program or a family")
        if key.startswith(PROGRAM_PREFIX):
            number = key.removeprefix(PROGRAM_PREFIX).strip()
            if not number.isdigit() or int(number) >= len(GM_PROGRAM_NAMES):
                raise FieldError(field, f"{text!r}: a program is program:0 to program:127, as MIDI counts them")
            return TrackSelector(text, frozenset({int(number)}))
        if key in _PROGRAMS_BY_NAME:
            return TrackSelector(text, frozenset({_PROGRAMS_BY_NAME[key]}))
        family = _FAMILY_ALIASES.get(key, key)
        if family in GM_FAMILIES:
            return TrackSelector(text, frozenset(GM_FAMILIES[family]), by_family=True)
        return TrackSelector(text, drums=key == DRUMS_SELECTOR)

    @staticmethod
    def parse_instrument(text: str, field: str = INSTRUMENTS_FIELD) -> InstrumentRef:
        """`text` split at its format; FieldError naming `field` when it names none of sf2:, lv2:, vst2: or nothing
        after it. Whether the instrument is installed, InstrumentCatalog.resolve says."""
        text = text.strip()
        prefix, colon, rest = text.partition(":")
        if not colon or prefix.casefold() not in FORMATS:
            formats = ", ".join(f"{known}:" for known in FORMATS)
            raise FieldError(
                field, f"{text!r} is not an instrument's name: it starts with {formats} (e.g. lv2:mda-piano)"
            )
        if not rest.strip():
            raise FieldError(field, f"{text!r} names no instrument after {prefix}:")
        return InstrumentRef(prefix.casefold(), rest.strip())


def parse_choice(text: str, field: str = INSTRUMENTS_FIELD) -> InstrumentChoice:
    """A choice as a command line writes it, "TRACK=INSTRUMENT" ("Bass=lv2:mda-jx10/Analog Bass"), split at the first
    "="; FieldError naming `field` without an "=" or with a side that parse_track or parse_instrument refuses."""
    track, equals, instrument = text.partition("=")
    if not equals:
        raise FieldError(field, f"{text!r} is not TRACK=INSTRUMENT (e.g. Bass=lv2:setbfree-dsp-tonewheel-organ)")
    InstrumentChoice.parse_track(track, field)
    InstrumentChoice.parse_instrument(instrument, field)
    return InstrumentChoice(track.strip(), instrument.strip())


@dataclass(frozen=True)
class SetEntry:
    """A set's instrument for the tracks `track` (a TrackSelector's text) picks: the first of `instruments` that is
    installed, with its preset; the SoundFont when none is."""

    track: str
    instruments: tuple[str, ...]


@dataclass(frozen=True)
class InstrumentSet:
    """A named set of instruments by track kind; its entries pick tracks by program, then by family or as drums
    (the first entry among equals), never by a track's name."""

    name: str
    description: str
    entries: tuple[SetEntry, ...] = ()


@dataclass(frozen=True)
class InstalledSet:
    """What a set plays on this server: the choice of each entry with an installed instrument (its voice's name),
    and the first instrument of each entry with none installed (whose tracks play the SoundFont)."""

    choices: tuple[InstrumentChoice, ...]
    missing: tuple[str, ...]


_JX10 = "lv2:mda-jx10"
_DX10 = "lv2:mda-dx10"
_ZYN = "lv2:zynaddsubfx"
_SETBFREE = "lv2:setbfree-dsp-tonewheel-organ"


def _entries(tracks: Iterable[str], *instruments: str) -> tuple[SetEntry, ...]:
    return tuple(SetEntry(track, instruments) for track in tracks)


# The presets are the labels of mda's *-presets.ttl and ZynAddSubFX.lv2presets; a preset a scan does not list is
# skipped like a plugin that is not installed. Only presets that play the written pitch, render the same finite samples
# every time and stay below +6 dBFS are here (tests/test_instrument_sets.py): most of mda's bass presets sound one or
# two octaves down (JX10's Analog Bass, DX10's E.Bass a tenth off), JX10's Monosynth, Synth Brass, Hard Lead and Echo
# Pad blow up or render NaN, and ZynAddSubFX's choirs, soft pad and slow strings vary from render to render.
STUDIO = InstrumentSet(
    "studio",
    "Drums on avldrums' Black Pearl kit, organs on setBfree, acoustic pianos on mda Piano, electric pianos on mda "
    "ePiano and DX10, basses, pads, leads, synth strings and synth brass on ZynAddSubFX and mda JX10/DX10 presets; "
    "what no plugin covers, and what is not installed, on the SoundFont.",
    (
        SetEntry(DRUMS_SELECTOR, ("lv2:black-pearl-drumkit",)),
        *_entries(GM_PROGRAM_NAMES[0:4], "lv2:mda-piano"),
        SetEntry("Electric Piano 1", ("lv2:mda-epiano",)),
        SetEntry("Electric Piano 2", (f"{_DX10}/Bright E.Piano", "lv2:mda-epiano")),
        *_entries(GM_PROGRAM_NAMES[16:21], _SETBFREE),  # the organs; not the accordions and harmonica
        SetEntry("Acoustic Bass", (f"{_ZYN}/Bass: 0001-Bass 1.xiz",)),
        SetEntry("Electric Bass (finger)", (f"{_ZYN}/Bass: 0005-Bass 5.xiz",)),
        SetEntry("Electric Bass (pick)", (f"{_ZYN}/Bass: 0035-FM Bass 1.xiz",)),
        SetEntry("Fretless Bass", (f"{_ZYN}/Bass: 0001-Bass 1.xiz",)),
        SetEntry("Synth Bass 1", (f"{_ZYN}/Bass: 0003-Bass 3 _analog_.xiz", f"{_JX10}/Moogcury Lite")),
        SetEntry("Synth Bass 2", (f"{_JX10}/Moogcury Lite", f"{_ZYN}/Bass: 0002-Bass 2.xiz")),
        SetEntry("bass", (f"{_ZYN}/Bass: 0003-Bass 3 _analog_.xiz", f"{_JX10}/Moogcury Lite")),
        *_entries(("Synth Strings 1", "Synth Strings 2"), f"{_JX10}/Synth Strings"),
        SetEntry("Synth Brass 1", (f"{_JX10}/Brass Section", f"{_ZYN}/Brass: 0003-Synth Brazz 1.xiz")),
        SetEntry("Synth Brass 2", (f"{_ZYN}/Brass: 0006-Synth Brass 4.xiz", f"{_JX10}/Brass Section")),
        SetEntry("Lead 1 (square)", (f"{_ZYN}/net-wisdom: 0103-square-lead.xiz",)),
        SetEntry("Lead 2 (sawtooth)", (f"{_ZYN}/Laba170bank: 0005-BrightLead.xiz",)),
        SetEntry("lead", (f"{_ZYN}/Collection: 0009-Trem Lead.xiz",)),
        SetEntry("Pad 1 (new age)", (f"{_ZYN}/Collection: 0124-Super Pad.xiz", f"{_JX10}/Very Soft Pad")),
        SetEntry("Pad 3 (polysynth)", (f"{_JX10}/Solid Backing",)),
        SetEntry("Pad 8 (sweep)", (f"{_DX10}/Space Pad",)),
        SetEntry("pad", (f"{_JX10}/Very Soft Pad",)),
    ),
)
SOUNDFONT_ONLY = InstrumentSet(DEFAULT_INSTRUMENT_SET, "Every track on the request's SoundFont (the default).")
INSTRUMENT_SETS: Mapping[str, InstrumentSet] = MappingProxyType(
    {STUDIO.name: STUDIO, SOUNDFONT_ONLY.name: SOUNDFONT_ONLY}
)


def instrument_set_named(name: str | None) -> InstrumentSet:
    """The built-in set called `name` (exactly); the SoundFont's for None or "". FieldError "instrument_set" else."""
    if not name:
        return SOUNDFONT_ONLY
    found = INSTRUMENT_SETS.get(name)
    if found is None:
        raise FieldError(INSTRUMENT_SET_FIELD, f"unknown instrument set {name!r}; sets: {', '.join(INSTRUMENT_SETS)}")
    return found


class InstrumentCatalog:
    """Every instrument a track can play here: the SoundFonts of `soundfonts` and the plugins a scan found
    (renderers.plugins.scan_plugins), by the names the module's docstring describes."""

    def __init__(self, soundfonts: SoundFontLibrary, plugins: Sequence[PluginInfo]) -> None:
        self._soundfonts = soundfonts
        self._plugins = sorted(
            (
                Instrument(name, info.format.value, info.title, info.locator, info.presets)
                for info, name in _plugin_names(plugins).items()
            ),
            key=lambda instrument: instrument.name,
        )
        # Per format, the name after "<format>:" and the locator, in any case.
        self._by_key: dict[tuple[str, str], Instrument] = {}
        for instrument in self._plugins:
            self._by_key[instrument.format, instrument.name.partition(":")[2].casefold()] = instrument
            self._by_key.setdefault((instrument.format, instrument.locator.casefold()), instrument)

    def instruments(self) -> list[Instrument]:
        """The SoundFonts (in the library's order), then the plugins by name."""
        fonts = [_soundfont_instrument(name) for name in self._soundfonts.names()]
        return fonts + self._plugins

    @property
    def default_soundfont(self) -> str | None:
        """The SoundFont a request that names none plays."""
        return self._soundfonts.default

    def resolve(self, text: str, field: str = INSTRUMENTS_FIELD) -> Voice:
        """The voice `text` names: "lv2:mda-piano", "lv2:<URI>", "vst2:zynaddsubfx", "sf2:TimGM6mb" (an uploaded
        font's "sf2:sha256:<hex>" too), then "/<preset label>" for a plugin's preset, all in any case.
        InstrumentNotFound (field `field`) with close names for what is not here; FieldError for a text that is not
        an instrument's name."""
        wanted_format, rest = InstrumentChoice.parse_instrument(text, field)
        text = text.strip()
        if wanted_format == SOUNDFONT_FORMAT:
            return self._soundfont_voice(text, rest, field)
        key = rest.casefold()
        found = self._by_key.get((wanted_format, key))
        if found is not None:
            return Voice(found)
        # The longest name or URI followed by "/": URIs have slashes of their own, slugs none.
        prefixes = [
            (len(known), instrument)
            for (known_format, known), instrument in self._by_key.items()
            if known_format == wanted_format and key.startswith(f"{known}/")
        ]
        if not prefixes:
            raise InstrumentNotFound(text, f"no instrument {text!r} here", self._like(text), field)
        length, instrument = max(prefixes, key=lambda prefix: prefix[0])
        return Voice(instrument, _preset(instrument, rest[length + 1 :], text, field))

    def first_installed(self, texts: Iterable[str]) -> Voice | None:
        """The voice of the first of `texts` that is here with its preset; None when none is."""
        for text in texts:
            try:
                return self.resolve(text)
            except InstrumentNotFound:
                continue
        return None

    def installed(self, instrument_set: InstrumentSet) -> InstalledSet:
        """What `instrument_set` plays here, and which of its instruments are missing."""
        choices: list[InstrumentChoice] = []
        missing: list[str] = []
        for entry in instrument_set.entries:
            voice = self.first_installed(entry.instruments)
            if voice is not None:
                choices.append(InstrumentChoice(entry.track, voice.name))
            elif entry.instruments[0] not in missing:
                missing.append(entry.instruments[0])
        return InstalledSet(tuple(choices), tuple(missing))

    def to_json(self) -> str:
        """The catalog as ListInstrumentsResponse's JSON (its proto field names): every instrument, and every built-in
        set with what it plays here and what it misses."""
        instruments = [
            {
                "name": instrument.name,
                "format": _WIRE_FORMATS[instrument.format],
                "title": instrument.title,
                "uri": instrument.locator if instrument.format == PluginFormat.LV2.value else "",
                "presets": list(instrument.presets),
                "is_default": not instrument.is_plugin and instrument.locator == self.default_soundfont,
            }
            for instrument in self.instruments()
        ]
        sets = []
        for instrument_set in INSTRUMENT_SETS.values():
            installed = self.installed(instrument_set)
            sets.append(
                {
                    "name": instrument_set.name,
                    "description": instrument_set.description,
                    "choices": [{"track": c.track, "instrument": c.instrument} for c in installed.choices],
                    "missing": list(installed.missing),
                }
            )
        return json.dumps({"instruments": instruments, "instrument_sets": sets})

    def _like(self, text: str) -> list[str]:
        """Instrument names like `text`, compared whole and without their formats ("vst2:zyn" suggests
        "lv2:zynaddsubfx")."""
        names = [instrument.name for instrument in self.instruments()]
        by_bare_name = {name.partition(":")[2]: name for name in names}
        bare = [by_bare_name[like] for like in _close(text.partition(":")[2], list(by_bare_name))]
        return list(dict.fromkeys([*_close(text, names), *bare]))[:_SUGGESTIONS]

    def _soundfont_voice(self, text: str, rest: str, field: str) -> Voice:
        name, slash, preset = rest.partition("/")
        try:
            font = self._soundfonts.resolve(name.strip()) if name.strip() else None
        except SoundFontNotFound:
            font = None
        if font is None:
            raise InstrumentNotFound(text, f"no SoundFont {text!r} here", self._like(text), field)
        instrument = _soundfont_instrument(font.name)
        if slash:
            raise InstrumentNotFound(
                text, f"{instrument.name} is a SoundFont: it takes no preset ({preset!r})", (), field
            )
        return Voice(instrument)


@dataclass(frozen=True)
class Fallback:
    """A track that plays the SoundFont because the set's instrument for it (`wanted`, its first) is not installed."""

    track: str
    wanted: str


@dataclass(frozen=True)
class Assignment:
    """What each track (by stem name, every stem) plays: a Voice, or None for the request's SoundFont; and the tracks
    that play the SoundFont only because the set's instrument for them is not installed."""

    voices: Mapping[str, Voice | None]
    fallbacks: tuple[Fallback, ...] = ()


def assign(
    stems: Sequence[Stem],
    choices: Sequence[InstrumentChoice],
    instrument_set: str | None,
    catalog: InstrumentCatalog,
) -> Assignment:
    """Each stem's voice: the request's choice that picks it most closely (by name, then program, then family or
    drums; the first among equals), else the set's entry that does, else None (the request's SoundFont). A choice
    whose instrument is not here, or that picks no track (a typo must not do nothing), raises a FieldError naming
    "instruments[i].instrument" or "instruments[i].track"; an unknown set one naming "instrument_set"."""
    chosen_set = instrument_set_named(instrument_set)
    tracks = [TrackFacts.of(stem) for stem in stems]
    selectors = [
        InstrumentChoice.parse_track(c.track, f"{INSTRUMENTS_FIELD}[{i}].track") for i, c in enumerate(choices)
    ]
    voices = [catalog.resolve(c.instrument, f"{INSTRUMENTS_FIELD}[{i}].instrument") for i, c in enumerate(choices)]
    for index, selector in enumerate(selectors):
        if all(selector.rank(track) is None for track in tracks):
            listed = ", ".join(repr(track.name) for track in tracks) or "none"
            raise FieldError(
                f"{INSTRUMENTS_FIELD}[{index}].track",
                f"{selector.text!r} picks no track (by name, program, family or 'drums'); the tracks: {listed}",
            )
    entry_selectors = [
        dataclasses.replace(InstrumentChoice.parse_track(entry.track), by_name=False) for entry in chosen_set.entries
    ]
    assigned: dict[str, Voice | None] = {}
    fallbacks: list[Fallback] = []
    for track in tracks:
        chosen = _closest(selectors, track)
        if chosen is not None:
            assigned[track.name] = voices[chosen]
            continue
        entry_index = _closest(entry_selectors, track)
        if entry_index is None:
            assigned[track.name] = None
            continue
        entry = chosen_set.entries[entry_index]
        assigned[track.name] = catalog.first_installed(entry.instruments)
        if assigned[track.name] is None:
            fallbacks.append(Fallback(track.name, entry.instruments[0]))
    return Assignment(assigned, tuple(fallbacks))


@dataclass(frozen=True)
class InstrumentRequest:
    """A render's instruments as the gateway sends them to the fluidsynth model: choices per track, then a set for
    the tracks no choice picks (None: the request's SoundFont)."""

    choices: tuple[InstrumentChoice, ...] = ()
    instrument_set: str | None = None

    def to_json(self) -> str:
        """The request as the fluidsynth model's INSTRUMENTS tensor carries it (and the cache keys hold it)."""
        choices = [{"track": choice.track, "instrument": choice.instrument} for choice in self.choices]
        return json.dumps({"choices": choices, "instrument_set": self.instrument_set}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> InstrumentRequest | None:
        """The request to_json wrote; None for empty text or a request of nothing. Unknown or mistyped fields raise
        FieldError "instruments"."""
        if not text:
            return None
        try:
            given = json.loads(text)
        except ValueError as exc:
            raise FieldError(INSTRUMENTS_FIELD, f"not JSON: {exc}") from None
        if not isinstance(given, dict):
            raise FieldError(INSTRUMENTS_FIELD, "must be a JSON object")
        unknown = set(given) - {"choices", "instrument_set"}
        if unknown:
            raise FieldError(INSTRUMENTS_FIELD, f"unknown fields {sorted(unknown)}")
        instrument_set = given.get("instrument_set")
        if instrument_set is not None and not isinstance(instrument_set, str):
            raise FieldError(INSTRUMENT_SET_FIELD, f"must be a string, got {instrument_set!r}")
        request = cls(_choices_from_json(given.get("choices", [])), instrument_set or None)
        return request if request.choices or request.instrument_set else None

    def assign(self, stems: Sequence[Stem], catalog: InstrumentCatalog) -> Assignment:
        """The module's assign() of these choices and set."""
        return assign(stems, self.choices, self.instrument_set, catalog)


def slug(title: str) -> str:
    """A title as a plugin's name writes it: lowercase ASCII, runs of other characters than a-z and 0-9 one "-"."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_title.lower()).strip("-")


def _choices_from_json(given: Any) -> tuple[InstrumentChoice, ...]:
    if not isinstance(given, list):
        raise FieldError(INSTRUMENTS_FIELD, "choices must be a list")
    choices = []
    for item in given:
        if (
            not isinstance(item, dict)
            or set(item) != {"track", "instrument"}
            or not all(isinstance(value, str) for value in item.values())
        ):
            raise FieldError(INSTRUMENTS_FIELD, f"a choice is {{'track': str, 'instrument': str}}, got {item!r}")
        choices.append(InstrumentChoice(item["track"], item["instrument"]))
    return tuple(choices)


def _closest(selectors: Sequence[TrackSelector], track: TrackFacts) -> int | None:
    """The index of the selector that picks `track` most closely, the first among equals; None when none does."""
    ranked = [(rank, index) for index, selector in enumerate(selectors) if (rank := selector.rank(track)) is not None]
    return min(ranked)[1] if ranked else None


def _soundfont_instrument(name: str) -> Instrument:
    return Instrument(f"{SOUNDFONT_FORMAT}:{name}", SOUNDFONT_FORMAT, name, name)


def _preset(instrument: Instrument, wanted: str, text: str, field: str) -> str:
    """The label of `instrument`'s preset `wanted` (any case); InstrumentNotFound suggesting labels else."""
    for label in instrument.presets:
        if label.casefold() == wanted.strip().casefold():
            return label
    if not instrument.presets:
        raise InstrumentNotFound(text, f"{instrument.name} lists no presets, so none called {wanted!r}", (), field)
    suggestions = _close(wanted, instrument.presets) or instrument.presets[:_SUGGESTIONS]
    reason = f"{instrument.name} has no preset {wanted!r} (it has {len(instrument.presets)})"
    raise InstrumentNotFound(text, reason, suggestions, field)


def _close(wanted: str, candidates: Sequence[str]) -> list[str]:
    """Candidates like `wanted`: those that contain it, then difflib's close matches, in any case; a few at most."""
    by_key = {candidate.casefold(): candidate for candidate in candidates}
    key = wanted.strip().casefold()
    containing = [candidate for known, candidate in by_key.items() if key and key in known]
    close = [by_key[known] for known in difflib.get_close_matches(key, list(by_key), n=_SUGGESTIONS, cutoff=0.6)]
    return list(dict.fromkeys([*containing, *close]))[:_SUGGESTIONS]


def _plugin_names(plugins: Iterable[PluginInfo]) -> dict[PluginInfo, str]:
    """Each plugin's name, unique in the catalog (the module's docstring says how); a plugin found twice is one."""
    unique: dict[tuple[PluginFormat, str], PluginInfo] = {}
    for info in plugins:
        unique.setdefault((info.format, info.locator), info)
    names = {info: f"{info.format.value}:{slug(info.title) or _locator_slug(info.locator)}" for info in unique.values()}
    for widen in (_locator_slug, _locator_digest):
        taken = Counter(names.values())
        names = {info: f"{name}-{widen(info.locator)}" if taken[name] > 1 else name for info, name in names.items()}
    return names


def _locator_slug(locator: str) -> str:
    """The slug of a locator's last part: an LV2 URI's after its last "/" or "#", a library's file name sans ".so"."""
    last = re.split(r"[/#]", locator.rstrip("/#"))[-1].removesuffix(".so")
    return slug(last) or _locator_digest(locator)


def _locator_digest(locator: str) -> str:
    return hashlib.sha256(locator.encode()).hexdigest()[:6]
