"""The CLI's render controls and note events (clients/render_controls.py), without a server (issue #11)."""

from pathlib import Path
from typing import Any

import click
import pytest
from basic_pitch.inference import save_note_events  # type: ignore[import-untyped]
from click.testing import CliRunner

from clients.render_controls import is_soundfont_file, mixing_options, note_events_csv
from dgxmusic.v1 import music_service_pb2 as pb


def test_note_events_are_written_as_basic_pitch_writes_them(tmp_path: Path) -> None:
    events = [(0.5, 1.25, 60, 100 / 127, [0, 1, -2]), (1.0, 2.0, 64, 0.5, None)]
    theirs = tmp_path / "basic_pitch.csv"
    save_note_events(events, theirs)
    notes = [
        pb.Note(start_seconds=0.5, end_seconds=1.25, pitch=60, velocity=100, pitch_bends=[0, 1, -2]),
        pb.Note(start_seconds=1.0, end_seconds=2.0, pitch=64, velocity=round(127 * 0.5)),
    ]
    assert note_events_csv(notes).splitlines() == theirs.read_text().splitlines()


def test_mixing_options_become_one_message_of_what_was_set() -> None:
    seen: dict[str, Any] = {}

    @click.command()
    @mixing_options
    def command(mixing: pb.MixingOptions) -> None:
        seen["mixing"] = mixing

    done = CliRunner().invoke(command, ["--loudness", "-14", "--reverb", "0", "--gain", "-3"])
    assert done.exit_code == 0, done.output
    assert seen["mixing"] == pb.MixingOptions(loudness_lufs=-14, reverb_level=0, gain_db=-3)
    assert not seen["mixing"].HasField("chorus_level")
    assert CliRunner().invoke(command, []).exit_code == 0
    assert seen["mixing"] == pb.MixingOptions()


@pytest.mark.parametrize(
    ("name", "is_file"),
    [("font.sf2", True), ("FONT.SF3", True), ("missing.sf2", False), ("TimGM6mb", False), ("notes.txt", False)],
)
def test_a_soundfont_value_is_a_file_only_when_it_is_one_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, is_file: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    for made in ("font.sf2", "FONT.SF3", "notes.txt"):
        (tmp_path / made).write_bytes(b"RIFF")
    assert is_soundfont_file(name) is is_file
