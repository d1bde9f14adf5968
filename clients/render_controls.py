"""The CLI's controls of a render (gain, reverb, chorus, loudness, a SoundFont file of the user's) and of what a
transcription writes besides its MIDI (Basic Pitch's note events as CSV)."""

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
