"""The CLI's controls of a render (gain, reverb, chorus, loudness, a SoundFont file of the user's, the instrument
each track plays) and of what a transcription writes besides its MIDI (Basic Pitch's note events as CSV)."""

import csv
import functools
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from dgxmusic.v1 import music_service_pb2 as pb

_MIXING_OPTIONS = (
    click.option(
        "--gain", "gain_db", type=float, help="dB added after the level is set (-60..24); the peak ceiling still holds"
    ),
    click.option("--reverb", "reverb_level", type=float, help="FluidSynth reverb level 0-1; 0 turns it off"),
    click.option("--reverb-room", "reverb_room_size", type=float, help="FluidSynth reverb room size 0-1"),
    click.option("--chorus", "chorus_level", type=float, help="FluidSynth chorus level 0-10; 0 turns it off"),
    click.option(
        "--loudness",
        "loudness_lufs",
        type=float,
        help="integrated loudness target in LUFS (ITU-R BS.1770), e.g. -14; default: the peak to the ceiling",
    ),
    click.option("--peak-ceiling", "peak_ceiling_dbfs", type=float, help="highest sample peak in dBFS (default -1)"),
)
MIXING_FIELDS = tuple(option_name for option_name in pb.MixingOptions.DESCRIPTOR.fields_by_name)


def mixing_options(command: Callable[..., None]) -> Callable[..., None]:
    """The mixing options, given to `command` as one pb.MixingOptions (`mixing`) holding those set."""

    @functools.wraps(command)
    def with_mixing(**kwargs: Any) -> None:
        chosen = {name: kwargs.pop(name) for name in MIXING_FIELDS}
        given = {name: value for name, value in chosen.items() if value is not None}
        command(mixing=pb.MixingOptions(**given), **kwargs)

    for option in reversed(_MIXING_OPTIONS):
        with_mixing = option(with_mixing)
    return with_mixing


_INSTRUMENT_HELP = (
    "repeatable, the first that picks a track wins: plays the tracks TRACK picks (a track's name, "
    '"drums", a General MIDI program as "program:33" or by its name, or a family: piano, organ, bass, strings, pad, '
    'lead...) on INSTRUMENT, a name `dgx-music instruments list` gives ("lv2:mda-piano", "sf2:TimGM6mb"), with '
    '"/PRESET" for one of its presets ("lv2:mda-jx10/PRESET")'
)
_INSTRUMENT_SET_HELP = (
    'a built-in set of instruments by track kind (e.g. "studio": `dgx-music instruments list` names them) for the '
    "tracks no --instrument picks; a track it has no installed instrument for plays the SoundFont"
)


def instrument_choice(value: str) -> pb.InstrumentChoice:
    """One --instrument value, TRACK=INSTRUMENT (split at the first "=", spaces around either side dropped)."""
    track, equals, instrument = value.partition("=")
    track, instrument = track.strip(), instrument.strip()
    if not equals or not track or not instrument:
        raise click.BadParameter(
            f"{value!r} is not TRACK=INSTRUMENT (e.g. drums=lv2:avldrums)", param_hint="'--instrument'"
        )
    return pb.InstrumentChoice(track=track, instrument=instrument)


def _instrument_choices(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[pb.InstrumentChoice]:
    return [instrument_choice(value) for value in values]


_INSTRUMENT_OPTIONS = (
    click.option(
        "--instrument",
        "instruments",
        metavar="TRACK=INSTRUMENT",
        multiple=True,
        callback=_instrument_choices,
        help=_INSTRUMENT_HELP,
    ),
    click.option("--instrument-set", metavar="NAME", default="", help=_INSTRUMENT_SET_HELP),
)


def instrument_options(command: Callable[..., None]) -> Callable[..., None]:
    """--instrument (repeatable) and --instrument-set, given to `command` as `instruments`, the
    list[pb.InstrumentChoice] in the order typed, and `instrument_set`, a name or ""."""
    for option in reversed(_INSTRUMENT_OPTIONS):
        command = option(command)
    return command


SOUNDFONT_HELP = (
    "SoundFont: a name the server lists (default: the server's), or a .sf2/.sf3 file of yours, uploaded when the "
    "server does not hold it yet"
)


def is_soundfont_file(value: str) -> bool:
    """Whether a --soundfont value is a file here (to upload) rather than a name the server lists."""
    path = Path(value)
    return path.suffix.lower() in (".sf2", ".sf3") and path.is_file()


def note_events_csv(notes: Iterable[pb.Note]) -> str:
    """The notes as Basic Pitch's save_note_events writes them: start_time_s, end_time_s, pitch_midi, velocity, then
    the note's pitch bends (thirds of a semitone) as further columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=",", lineterminator="\n")
    writer.writerow(["start_time_s", "end_time_s", "pitch_midi", "velocity", "pitch_bend"])
    for note in notes:
        writer.writerow([note.start_seconds, note.end_seconds, note.pitch, note.velocity, *note.pitch_bends])
    return buffer.getvalue()
