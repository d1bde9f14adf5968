"""The dgx-music CLI against the real stack: the files a producer gets, and the errors a producer reads; and the
operator's commands, which the server adds where it is installed."""

import os
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from clients.cli import main
from deploy.launcher import Stack
from rendering import assert_song_and_tail


def dgx_music(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "clients.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_compose_writes_song_mix_and_stems(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "song"
    done = dgx_music(
        "compose", "trap beat with 808 bass and sharp hi-hats, 140 BPM, F minor", "--bars", "2",
        "--out", str(out), "--server", stack.gateway_target,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    song = mido.MidiFile(out / "song.mid")
    mix, rate = soundfile.read(out / "mix.wav")
    assert rate == 44100
    assert_song_and_tail(mix, 2 * 4 * 60 / 140)
    stems = sorted(p.stem for p in (out / "stems").glob("*.wav"))
    names = sorted(t.name for t in song.tracks if any(m.type == "note_on" for m in t))
    assert stems == sorted(n.replace("/", "_") for n in names)
    assert "wrote" in done.stderr
    assert "100%" in done.stderr


def test_render_and_health(stack: Stack, tmp_path: Path) -> None:
    midi = tmp_path / "in.mid"
    assert (
        dgx_music("midi", "house 125", "--bars", "1", "--out", str(midi), "--server", stack.gateway_target).returncode
        == 0
    )
    done = dgx_music(
        "render", str(midi), "--out", str(tmp_path / "mix.flac"), "--format", "flac",
        "--stems", str(tmp_path / "stems"), "--server", stack.gateway_target,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = soundfile.info(tmp_path / "mix.flac")
    assert info.format == "FLAC"
    assert info.samplerate == 44100
    assert list((tmp_path / "stems").glob("*.flac"))
    health = dgx_music("health", "--server", stack.gateway_target)
    assert (health.returncode, health.stdout.strip()) == (0, "SERVING")


def test_bad_input_names_the_field_and_exits_2(stack: Stack, tmp_path: Path) -> None:
    done = dgx_music("compose", "trap", "--bpm", "0", "--out", str(tmp_path), "--server", stack.gateway_target)
    assert done.returncode == 2
    assert "INVALID_ARGUMENT" in done.stderr
    assert "options.bpm" in done.stderr


def test_health_of_a_server_that_is_not_there_is_a_retry_later() -> None:
    done = dgx_music("health", "--server", "127.0.0.1:1", "--timeout", "1")
    assert done.returncode == 75
    assert "UNAVAILABLE: no gateway at 127.0.0.1:1 - is `dgx-music serve` running?" in done.stderr


def test_audio_files_of_other_kinds_and_errors_are_printed_whole(stack: Stack, tmp_path: Path) -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32) * 0.5
    ogg = tmp_path / "take.ogg"
    soundfile.write(ogg, tone, 22050, format="OGG", subtype="VORBIS")
    done = dgx_music("transcribe", str(ogg), "--out", str(tmp_path / "take.mid"), "--server", stack.gateway_target)
    assert done.returncode == 0, done.stderr
    assert {note.note for note in mido.MidiFile(tmp_path / "take.mid").tracks[-1] if note.type == "note_on"} == {69}

    text = tmp_path / "notes [draft].txt"
    text.write_text("not audio")
    done = dgx_music("transcribe", str(text), "--server", stack.gateway_target)
    assert done.returncode == 2
    assert "notes [draft].txt" in done.stderr, "a message keeps its brackets"
    assert "Traceback" not in done.stderr

    six = tmp_path / "six.wav"
    soundfile.write(six, np.tile(tone[:, None], (1, 6)), 22050)
    done = dgx_music("transcribe", str(six), "--server", stack.gateway_target)
    assert done.returncode == 0, done.stderr
    assert {note.note for note in mido.MidiFile(tmp_path / "six.mid").tracks[-1] if note.type == "note_on"} == {69}


def test_outputs_land_in_new_folders_and_unwritable_ones_are_named(stack: Stack, tmp_path: Path) -> None:
    deep = tmp_path / "new" / "deeper" / "idea.mid"
    done = dgx_music("midi", "techno 128", "--bars", "1", "--out", str(deep), "--server", stack.gateway_target)
    assert done.returncode == 0, done.stderr
    assert mido.MidiFile(deep).type == 1
    done = dgx_music("midi", "techno 128", "--bars", "1", "--out", str(tmp_path), "--server", stack.gateway_target)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert str(tmp_path) in done.stderr
    a_file = tmp_path / "taken"
    a_file.write_text("")
    done = dgx_music("compose", "techno", "--out", str(a_file), "--server", stack.gateway_target)
    assert done.returncode == 2
    assert "is a file" in done.stderr


def test_bad_server_settings_and_profiles_are_bad_input() -> None:
    env = {**os.environ, "DGXMUSIC_GRPC_PORT": "abc"}
    argv = [sys.executable, "-m", "clients.cli", "serve"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 2
    assert "DGXMUSIC_GRPC_PORT" in done.stderr
    assert "Traceback" not in done.stderr
    assert "weights_dir" not in done.stderr, "only the setting at fault"
    assert dgx_music("serve", "--port", "70000").returncode == 2
    done = dgx_music("plan", "--profile", "no-such-profile")
    assert done.returncode == 2
    assert "known" in done.stderr


def _commands_listed(*args: str) -> set[str]:
    """The commands `dgx-music ARGS --help` lists."""
    done = CliRunner().invoke(main, [*args, "--help"])
    assert done.exit_code == 0, done.output
    commands = done.output.partition("Commands:\n")[2]
    return {line.split()[0] for line in commands.splitlines() if line.strip()}


def test_the_operator_commands_join_the_cli_where_the_server_is_installed() -> None:
    assert {"compose", "health", "serve", "demo", "plan"} <= _commands_listed()
    assert _commands_listed("models") == {"list", "pull"}


def test_without_the_server_its_commands_are_not_offered_and_name_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "deploy.cli", None)  # its import fails, as without the server's dependencies
    assert "compose" in _commands_listed()
    assert not {"serve", "demo", "plan"} & _commands_listed()
    assert _commands_listed("models") == {"list"}
    serve = CliRunner().invoke(main, ["serve"])
    assert serve.exit_code == 1
    assert "pip install 'dgx-music[server]'" in serve.stderr
