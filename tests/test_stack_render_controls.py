"""Render controls, a user's own SoundFont and Basic Pitch's options through `dgx-music` against the real stack
(Triton's fluidsynth and basic_pitch models, Redis, the gateway), issue #11."""

import csv
import hashlib
import io
import json
import re
import secrets
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile
from test_stack_cli_scripting import dgx_music, results, said

from deploy.launcher import Stack
from renderers import integrated_loudness

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


@pytest.fixture(scope="module")
def song(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("song")
    done = dgx_music(
        stack, "midi", "synthwave 110 BPM, D minor", "--bars", "8", "--seed", "2", "--out", str(out / "s.mid")
    )
    assert done.returncode == 0, done.stderr
    return out / "s.mid"


def test_a_render_with_gain_reverb_off_and_a_loudness_target_measures_that_loudness_without_clipping(
    stack: Stack, song: Path, tmp_path: Path
) -> None:
    mix = tmp_path / "loud.wav"
    args = ["render", str(song), "--out", str(mix), "--loudness", "-14", "--reverb", "0", "--gain", "0", "--json"]
    done = dgx_music(stack, *args, "--stems", str(tmp_path / "stems"))
    assert done.returncode == 0, done.stderr
    audio, rate = soundfile.read(mix, dtype="float32", always_2d=True)
    assert integrated_loudness(audio, rate) == pytest.approx(-14, abs=0.5)
    assert np.max(np.abs(audio)) <= 10 ** (-1 / 20)
    stems = [soundfile.read(path, dtype="float32", always_2d=True)[0] for path in (tmp_path / "stems").iterdir()]
    np.testing.assert_allclose(sum(stems), audio, atol=1e-5)

    quiet = tmp_path / "quiet.wav"
    done = dgx_music(
        stack, "render", str(song), "--out", str(quiet), "--loudness", "-14", "--reverb", "0", "--gain", "-6"
    )
    assert done.returncode == 0, done.stderr
    softer, _ = soundfile.read(quiet, dtype="float32", always_2d=True)
    assert integrated_loudness(softer, rate) == pytest.approx(-20, abs=0.5)

    wet = tmp_path / "wet.wav"
    done = dgx_music(stack, "render", str(song), "--out", str(wet), "--reverb", "1", "--reverb-room", "1")
    assert done.returncode == 0, done.stderr
    assert soundfile.info(wet).frames > len(audio)  # the big room's tail rings on


def test_bad_render_controls_are_refused_each_named(stack: Stack, song: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x.wav")
    done = dgx_music(stack, "render", str(song), "--out", out, "--loudness", "3", "--chorus", "11", "--json")
    assert done.returncode == 2
    (refused,) = results(done)
    assert [v["field"] for v in refused["error"]["violations"]] == ["mixing.chorus_level", "mixing.loudness_lufs"]


def renamed_soundfont(data: bytes) -> bytes:
    """The SoundFont `data` with another bank name (INFO's INAM, same length): the same sounds, another file."""
    at = data.index(b"INAM") + 8
    length = int.from_bytes(data[at - 4 : at], "little")
    name = secrets.token_hex(length)[: length - 1].encode() + b"\0"
    return data[:at] + name + data[at + length :]


def test_a_soundfont_file_is_uploaded_once_and_renders_differently_from_the_default(
    stack: Stack, song: Path, tmp_path: Path
) -> None:
    font = tmp_path / "My Font [v2].sf2"
    font.write_bytes(renamed_soundfont(TIMGM.read_bytes()))  # a font of its own: the session's stack may hold TimGM6mb
    default, own, again = (tmp_path / name for name in ("default.wav", "own.wav", "again.wav"))
    assert dgx_music(stack, "render", str(song), "--out", str(default), "--reverb", "0").returncode == 0

    first = dgx_music(stack, "render", str(song), "--out", str(own), "--reverb", "0", "--soundfont", str(font))
    assert first.returncode == 0, first.stderr
    assert "uploaded" in said(first)
    second = dgx_music(stack, "compose", "house", "--bars", "1", "--out", str(tmp_path / "c"), "--soundfont", str(font))
    assert second.returncode == 0, second.stderr
    third = dgx_music(stack, "render", str(song), "--out", str(again), "--reverb", "0", "--soundfont", str(font))
    assert third.returncode == 0, third.stderr
    assert "uploaded" not in said(second) + said(third)  # the server holds it: nothing sent again

    store = stack.settings.soundfont_upload_dir
    assert (store / f"{hashlib.sha256(font.read_bytes()).hexdigest()}.sf2").is_file()
    assert all(re.fullmatch(r"[0-9a-f]{64}\.sf2", path.name) for path in store.iterdir())  # never "My Font [v2]"
    ours, _ = soundfile.read(own, dtype="float32")
    theirs, _ = soundfile.read(default, dtype="float32")
    np.testing.assert_array_equal(ours, soundfile.read(again, dtype="float32")[0])
    assert ours.shape != theirs.shape or not np.allclose(ours, theirs, atol=1e-3)
    by_name = tmp_path / "by_name.wav"
    done = dgx_music(stack, "render", str(song), "--out", str(by_name), "--reverb", "0", "--soundfont", "timgm6mb.SF2")
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(ours, soundfile.read(by_name, dtype="float32")[0])


def test_a_file_that_is_not_a_soundfont_is_refused_naming_the_field(stack: Stack, song: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.sf2"
    soundfile.write(fake, np.zeros((4410, 2), dtype=np.float32), 44100, format="WAV")
    done = dgx_music(stack, "render", str(song), "--out", str(tmp_path / "x.wav"), "--soundfont", str(fake), "--json")
    assert done.returncode == 2, done.stderr
    (refused,) = results(done)
    assert [v["field"] for v in refused["error"]["violations"]] == ["soundfont"]
    assert "not a SoundFont" in refused["error"]["message"]
    assert not (tmp_path / "x.wav").exists()


def test_transcribe_options_reach_basic_pitch(stack: Stack, song: Path, tmp_path: Path) -> None:
    audio = tmp_path / "take.wav"
    assert dgx_music(stack, "render", str(song), "--out", str(audio)).returncode == 0
    midi_out, notes_csv, back = tmp_path / "take.mid", tmp_path / "notes.csv", tmp_path / "back.flac"
    args = ["--midi-tempo", "90", "--multiple-pitch-bends", "--no-melodia", "--note-events", str(notes_csv)]
    done = dgx_music(stack, "transcribe", str(audio), "--out", str(midi_out), *args, "--sonify", str(back), "--json")
    assert done.returncode == 0, done.stderr
    (told,) = results(done)
    assert set(told["files"]) == {str(midi_out), str(notes_csv), str(back)}

    midi = mido.MidiFile(midi_out)
    tempos = [m.tempo for track in midi.tracks for m in track if m.type == "set_tempo"]
    assert [round(mido.tempo2bpm(tempo), 3) for tempo in tempos] == [90]
    rows = list(csv.reader(io.StringIO(notes_csv.read_text())))
    assert rows[0] == ["start_time_s", "end_time_s", "pitch_midi", "velocity", "pitch_bend"]
    assert len(rows) - 1 == told["notes"] > 0
    starts_in_midi = sorted(round(start, 2) for start, _ in _notes_of(midi))
    assert sorted(round(float(row[0]), 2) for row in rows[1:]) == pytest.approx(starts_in_midi, abs=0.02)
    assert {int(row[2]) for row in rows[1:]} == {pitch for _, pitch in _notes_of(midi)}

    info = soundfile.info(back)
    assert info.format == "FLAC"
    assert info.duration == pytest.approx(soundfile.info(audio).duration, abs=3.0)


def _notes_of(midi: mido.MidiFile) -> list[tuple[float, int]]:
    """(start in seconds, pitch) of every note, timed by the file's own tempo."""
    found = []
    now = 0.0
    for message in midi:  # merged tracks, times in seconds
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            found.append((now, message.note))
    return found


def test_note_events_and_sonify_want_one_input(stack: Stack, tmp_path: Path) -> None:
    done = dgx_music(stack, "transcribe", __file__, __file__, "--note-events", str(tmp_path / "n.csv"))
    assert done.returncode == 2
    assert "one audio file" in said(done)
    done = dgx_music(stack, "transcribe", __file__, "--sonify", str(tmp_path / "x.aiff"))
    assert done.returncode == 2
    assert json.dumps(".aiff")[1:-1] in said(done)
