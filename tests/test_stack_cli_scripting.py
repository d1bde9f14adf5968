"""`dgx-music` in a script, against the real stack: one JSON object per result on stdout and nothing else there,
`-` for stdin and stdout in a pipe, several inputs per call, files refused or replaced whole, exit codes a script
acts on (2 bad input, 69 weights missing, 75 retry later) and the words of a prompt the composer did not
understand."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mido
import numpy as np
import soundfile

from conftest import stack_settings
from deploy.launcher import Stack

HEX_ID = 32


def dgx_music(
    stack: Stack | None, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    server = ["--server", stack.gateway_target] if stack is not None else []
    argv = [sys.executable, "-m", "clients.cli", *args, *server]
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=180, check=False, env=env)


def results(done: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    """Every line of stdout is one JSON object: nothing else is there."""
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def said(done: subprocess.CompletedProcess[bytes]) -> str:
    """stderr as one line (rich wraps it at its width)."""
    return " ".join(done.stderr.decode().split())


def tone(path: Path, seconds: float = 1.0, rate: int = 22050) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32), rate)
    return path


def test_each_command_answers_one_json_object_per_result(stack: Stack, tmp_path: Path) -> None:
    song = tmp_path / "song"
    done = dgx_music(stack, "compose", "house 124 BPM, A minor, asdf", "--bars", "1", "--out", str(song), "--json")
    assert done.returncode == 0, done.stderr
    (composed,) = results(done)
    assert composed["command"] == "compose"
    assert len(composed["request_id"]) == HEX_ID
    assert composed["song"]["bpm"] == 124
    assert composed["song"]["metadata"]["sources"]["bpm"] == "prompt"
    assert composed["unknown_words"] == ["asdf"]
    assert {"composing", "rendering"} <= set(composed["timings"])
    assert str(song / "song.mid") in composed["files"]
    assert all(Path(path).is_file() for path in composed["files"])
    assert "not understood: asdf" in said(done)

    done = dgx_music(stack, "midi", "techno 128", "--variations", "2", "--out", str(tmp_path / "m.mid"), "--json")
    assert done.returncode == 0, done.stderr
    songs = results(done)
    assert [s["files"] for s in songs] == [[str(tmp_path / "m_1.mid")], [str(tmp_path / "m_2.mid")]]
    assert len(songs[0]["request_id"]) == HEX_ID
    assert songs[0]["prompt"] == "techno 128"

    mix = tmp_path / "mix.flac"
    done = dgx_music(stack, "render", str(song / "song.mid"), "--out", str(mix), "--format", "flac", "--json")
    assert done.returncode == 0, done.stderr
    (rendered,) = results(done)
    assert rendered["files"] == [str(mix)]
    assert rendered["input"] == str(song / "song.mid")
    assert soundfile.info(mix).format == "FLAC"

    done = dgx_music(stack, "transcribe", str(tone(tmp_path / "a.wav")), "--json")
    assert done.returncode == 0, done.stderr
    (transcribed,) = results(done)
    assert transcribed["files"] == [str(tmp_path / "a.mid")]
    assert transcribed["notes"] >= 1

    done = dgx_music(stack, "separate", str(tmp_path / "a.wav"), "--out", str(tmp_path / "stems"), "--json")
    assert done.returncode == 0, done.stderr
    (separated,) = results(done)
    assert separated["stems"] == ["bass", "drums", "other", "vocals"]
    assert sorted(Path(path).stem for path in separated["files"]) == separated["stems"]

    done = dgx_music(stack, "generate", "lofi keys", "--seconds", "1", "--out", str(tmp_path / "g.wav"), "--json")
    assert done.returncode == 0, done.stderr
    (generated,) = results(done)
    assert generated["files"] == [str(tmp_path / "g.wav")]
    assert generated["prompts"] == ["lofi keys"]

    (health,) = results(dgx_music(stack, "health", "--json"))
    assert health["status"] == "SERVING"
    (listed,) = results(dgx_music(stack, "models", "list", "--json"))
    assert {"text2midi", "fluidsynth", "basic_pitch"} <= {m["name"] for m in listed["models"]}
    assert len(listed["request_id"]) == HEX_ID


def test_a_pipe_from_midi_through_render_to_transcribe(stack: Stack) -> None:
    midi = dgx_music(stack, "midi", "piano ballad 80 BPM", "--bars", "1", "--out", "-")
    assert midi.returncode == 0, midi.stderr
    assert midi.stdout.startswith(b"MThd")
    wav = dgx_music(stack, "render", "-", "--out", "-", stdin=midi.stdout)
    assert wav.returncode == 0, wav.stderr
    assert wav.stdout.startswith(b"RIFF")
    transcribed = dgx_music(stack, "transcribe", "-", stdin=wav.stdout)
    assert transcribed.returncode == 0, transcribed.stderr
    assert transcribed.stdout.startswith(b"MThd")
    assert "notes: wrote stdout" in said(transcribed)


def test_several_inputs_in_one_call_are_written_each_by_its_name(stack: Stack, tmp_path: Path) -> None:
    takes = [tone(tmp_path / "one.wav"), tone(tmp_path / "two.wav", seconds=1.5)]
    done = dgx_music(stack, "transcribe", *map(str, takes), "--out", str(tmp_path / "midi"), "--json")
    assert done.returncode == 0, done.stderr
    assert [r["files"] for r in results(done)] == [[str(tmp_path / "midi" / f"{n}.mid")] for n in ("one", "two")]
    assert mido.MidiFile(tmp_path / "midi" / "two.mid").type == 1
    assert "one.wav: done" in said(done)
    assert "two.wav: done" in said(done)

    done = dgx_music(stack, "separate", *map(str, takes), "--out", str(tmp_path / "stems"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "stems").iterdir()) == ["one", "two"]
    assert len(list((tmp_path / "stems" / "two").glob("*.wav"))) == 4

    songs = [tmp_path / "a.mid", tmp_path / "b.mid"]
    for path in songs:
        assert dgx_music(stack, "midi", "jazz trio", "--bars", "1", "--out", str(path)).returncode == 0
    done = dgx_music(stack, "render", *map(str, songs), "--out", str(tmp_path / "mixes"), "--json")
    assert done.returncode == 0, done.stderr
    assert [r["files"] for r in results(done)] == [[str(tmp_path / "mixes" / f"{n}.wav")] for n in ("a", "b")]


def test_one_bad_input_among_several_is_named_and_the_others_written(stack: Stack, tmp_path: Path) -> None:
    good = tone(tmp_path / "good.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really")
    done = dgx_music(stack, "transcribe", str(bad), str(good), "--json")
    assert done.returncode == 2, done.stderr
    failed, written = results(done)
    assert failed["input"] == str(bad)
    assert failed["error"]["exit_code"] == 2
    assert written["files"] == [str(tmp_path / "good.mid")]
    assert (tmp_path / "good.mid").is_file()
    assert f"error {bad}:" in said(done)


def test_files_are_refused_or_replaced_whole(stack: Stack, tmp_path: Path) -> None:
    song = tmp_path / "song"
    assert dgx_music(stack, "compose", "trap 140", "--bars", "1", "--out", str(song)).returncode == 0
    before = (song / "song.mid").read_bytes()
    stems = sorted(p.name for p in (song / "stems").iterdir())
    assert stems

    done = dgx_music(stack, "compose", "waltz", "--bars", "1", "--out", str(song))
    assert done.returncode == 2
    assert f"{song / 'song.mid'} exists" in said(done)
    assert "--overwrite" in said(done)
    assert (song / "song.mid").read_bytes() == before

    done = dgx_music(stack, "compose", "waltz", "--bars", "1", "--out", str(song), "--no-stems", "--overwrite")
    assert done.returncode == 0, done.stderr
    assert (song / "song.mid").read_bytes() != before
    assert list((song / "stems").iterdir()) == [], "no stem of the earlier song is left beside the new mix"

    stems_dir = tmp_path / "stems"
    stems_dir.mkdir()
    (stems_dir / "guitar.wav").write_bytes(b"an earlier run's")
    take = tone(tmp_path / "take.wav")
    done = dgx_music(stack, "separate", str(take), "--out", str(stems_dir))
    assert done.returncode == 2
    assert "guitar.wav exists" in said(done)
    done = dgx_music(stack, "separate", str(take), "--out", str(stems_dir), "--overwrite")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in stems_dir.iterdir()) == ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]


def test_exit_codes_say_fix_it_or_retry_later(stack: Stack, tmp_path: Path) -> None:
    done = dgx_music(stack, "compose", "trap", "--bpm", "0", "--out", str(tmp_path / "s"), "--json")
    assert done.returncode == 2
    (failed,) = results(done)
    assert failed["error"]["code"] == "INVALID_ARGUMENT"
    assert failed["error"]["violations"][0]["field"] == "options.bpm"
    assert len(failed["error"]["request_id"]) == HEX_ID

    done = dgx_music(stack, "compose", "asdf qwerty house", "--strict", "--out", str(tmp_path / "strict"))
    assert done.returncode == 2
    assert "words not understood: asdf, qwerty" in said(done)
    assert not (tmp_path / "strict").exists()

    done = dgx_music(stack, "generate", "ambient drone", "--seconds", "30", "--timeout", "0.2", "--out", "-")
    assert done.returncode == 75, done.stderr
    assert "DEADLINE_EXCEEDED" in said(done)

    done = dgx_music(None, "midi", "house", "--out", str(tmp_path / "x.mid"), "--server", "127.0.0.1:1")
    assert done.returncode == 75
    assert "no gateway at 127.0.0.1:1 - is `dgx-music serve` running?" in said(done)


def test_the_default_gateway_is_where_the_server_s_settings_put_it(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DGXMUSIC_SERVER"}
    env |= {"DGXMUSIC_HOST": "0.0.0.0", "DGXMUSIC_GRPC_PORT": str(stack.settings.grpc_port)}
    done = dgx_music(None, "health", env=env)
    assert (done.returncode, done.stdout.strip()) == (0, b"SERVING")


def test_missing_weights_exit_69(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path, models=["demucs"], weights_dir=tmp_path / "weights", demucs_model="htdemucs")
    take = tone(tmp_path / "take.wav")
    with Stack(settings) as bare:
        done = dgx_music(bare, "separate", str(take), "--out", str(tmp_path / "stems"), "--json")
    assert done.returncode == 69, done.stderr
    (failed,) = results(done)
    assert failed["error"]["code"] == "FAILED_PRECONDITION"
    assert "dgx-music models pull htdemucs" in failed["error"]["message"]


def test_a_detached_job_s_id_and_results_as_json(stack: Stack, tmp_path: Path) -> None:
    done = dgx_music(stack, "compose", "lofi 80 BPM", "--bars", "1", "--detach", "--json")
    assert done.returncode == 0, done.stderr
    (submitted,) = results(done)
    out = tmp_path / "job"
    done = dgx_music(stack, "jobs", "watch", submitted["job_id"], "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    job, song = results(done)
    assert (job["id"], job["state"]) == (submitted["job_id"], "JOB_STATE_SUCCEEDED")
    assert song["job_id"] == submitted["job_id"]
    assert str(out / "song.mid") in song["files"]
    done = dgx_music(stack, "jobs", "get", submitted["job_id"], "--out", str(out))
    assert done.returncode == 2
    assert "exists" in said(done)
    assert dgx_music(stack, "jobs", "get", submitted["job_id"], "--out", str(out), "--overwrite").returncode == 0


def test_lossy_formats_are_written_as_their_files_or_piped(stack: Stack, tmp_path: Path) -> None:
    song = tmp_path / "song.mid"
    assert dgx_music(stack, "midi", "funk 100", "--bars", "1", "--out", str(song)).returncode == 0
    done = dgx_music(stack, "render", str(song), "--format", "mp3", "--out", str(tmp_path / "mix.wav"), "--json")
    assert done.returncode == 0, done.stderr
    assert results(done)[0]["files"] == [str(tmp_path / "mix.mp3")]
    assert soundfile.info(tmp_path / "mix.mp3").format == "MP3"
    piped = dgx_music(stack, "render", str(song), "--format", "opus", "--sample-rate", "48000", "--out", "-")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith(b"OggS")
