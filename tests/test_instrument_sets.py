"""Every instrument a built-in set can pick, rendered through the plugin host as a render would: it sounds, its
samples are finite and stay below +6 dBFS, the same notes give the same samples every time, and a pitched one plays
the pitch written (Basic Pitch hears it: a preset an octave down would change the song)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from renderers import DEFAULT_SOUNDFONT_DIRS, EventKind, MidiEvent, SoundFontLibrary
from renderers.instruments import DRUMS_SELECTOR, INSTRUMENT_SETS, InstrumentCatalog
from renderers.plugin_host import PluginHost
from transcriber import transcribe

# Notes over two octaves and velocities, some overlapping, then a held chord: what trips an unstable patch.
_NOTES = [(40 + (i * 5) % 24, i * 0.2, i * 0.2 + 0.35, 60 + i % 60) for i in range(20)]
_NOTES += [(pitch, 1.0, 2.0, 90) for pitch in (60, 64, 67)]
EVENTS = sorted(
    (
        event
        for pitch, start, end, velocity in _NOTES
        for event in (
            MidiEvent(start, EventKind.NOTE_ON, 0, pitch, velocity),
            MidiEvent(end, EventKind.NOTE_OFF, 0, pitch, 0),
        )
    ),
    key=lambda event: event.seconds,
)
LOUDEST = 2.0  # +6 dBFS: a patch past it has blown up


@pytest.fixture(scope="module")
def host() -> Iterator[PluginHost]:
    with PluginHost(workers=2) as plugin_host:
        yield plugin_host


@pytest.fixture(scope="module")
def catalog(host: PluginHost) -> InstrumentCatalog:
    return InstrumentCatalog(SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS), host.scan())


def _set_instruments(*, drums: bool | None = None) -> list[str]:
    """The instruments the sets name: all, only the drum kits, or only the pitched ones."""
    return sorted(
        {
            name
            for entry_set in INSTRUMENT_SETS.values()
            for entry in entry_set.entries
            if drums is None or (entry.track == DRUMS_SELECTOR) == drums
            for name in entry.instruments
        }
    )


@pytest.mark.parametrize("name", _set_instruments())
def test_a_set_instrument_renders_the_same_sound_every_time(
    name: str, host: PluginHost, catalog: InstrumentCatalog
) -> None:
    if catalog.first_installed([name]) is None:
        pytest.fail(f"{name} is not installed: the set-up installs every plugin the sets name")
    sound = catalog.resolve(name).plugin_sound()
    first, second = (host.render(sound, EVENTS, 44100, 4.0, label=name) for _ in range(2))
    peak = float(np.max(np.abs(first)))
    assert 1e-3 < peak < LOUDEST
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", _set_instruments(drums=False))
def test_a_pitched_set_instrument_plays_the_written_pitch(
    name: str, host: PluginHost, catalog: InstrumentCatalog
) -> None:
    sound = catalog.resolve(name).plugin_sound()
    for pitch in (45, 60):  # a bass's A2, a lead's C4
        played = [MidiEvent(0.2, EventKind.NOTE_ON, 0, pitch, 100), MidiEvent(1.4, EventKind.NOTE_OFF, 0, pitch, 0)]
        heard = transcribe(host.render(sound, played, 44100, 2.0, label=name), 44100).notes
        # Basic Pitch may hear an overtone too; the written pitch must be there at the note's start.
        assert pitch in {note.pitch for note in heard if note.start < 0.4}, f"{name} at {pitch}: {heard}"
