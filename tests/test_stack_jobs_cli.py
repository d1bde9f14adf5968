"""Jobs from the terminal against the real stack: work queued with --detach, then watched, read, listed and cancelled
with `dgx-music jobs`, its results written as the plain commands write them."""

import json
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import soundfile

from clients.client import MusicClient
from deploy.launcher import Stack
from dgxmusic.v1 import jobs_pb2
from rendering import assert_song_and_tail


def dgx_music(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "clients.cli", *args, "--server", stack.gateway_target]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)


def detached(stack: Stack, *args: str) -> str:
    """Runs a command with --detach; returns the job id it printed, its only output."""
    done = dgx_music(stack, *args, "--detach")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert len(job_id) == 32
    assert int(job_id, 16) >= 0
    return job_id


def test_a_detached_compose_is_watched_to_its_song(stack: Stack, tmp_path: Path) -> None:
    job_id = detached(stack, "compose", "house 124 BPM, A minor", "--bars", "2")
    out = tmp_path / "song"
    done = dgx_music(stack, "jobs", "watch", job_id, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SUCCEEDED"
    assert "100%" in done.stderr
    song = mido.MidiFile(out / "song.mid")
    mix, rate = soundfile.read(out / "mix.wav")
    assert rate == 44100
    assert_song_and_tail(mix, 2 * 4 * 60 / 124)
    names = sorted(t.name.replace("/", "_") for t in song.tracks if any(m.type == "note_on" for m in t))
    assert sorted(p.stem for p in (out / "stems").glob("*.wav")) == names


def test_a_detached_transcription_is_read_with_get_and_listed(stack: Stack, tmp_path: Path) -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32) * 0.5
    wav = tmp_path / "take.wav"
    soundfile.write(wav, tone, 22050)
    job_id = detached(stack, "transcribe", str(wav))
    assert dgx_music(stack, "jobs", "watch", job_id).returncode == 0
    done = dgx_music(stack, "jobs", "get", job_id, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "SUCCEEDED" in done.stdout
    midi = mido.MidiFile(tmp_path / "out" / "transcription.mid")
    assert {m.note for m in midi.tracks[-1] if m.type == "note_on"} == {69}

    listed = dgx_music(stack, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    jobs = {job["id"]: job for job in json.loads(listed.stdout)}
    assert (jobs[job_id]["kind"], jobs[job_id]["state"]) == ("Transcribe", "JOB_STATE_SUCCEEDED")
    table = dgx_music(stack, "jobs", "list")
    assert job_id in table.stdout
    assert "succeeded" in table.stdout


def test_an_unknown_job_is_not_found_and_exits_2(stack: Stack) -> None:
    done = dgx_music(stack, "jobs", "get", "0123456789abcdef0123456789abcdef")
    assert done.returncode == 2, done.stderr
    assert "NOT_FOUND" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_cancelled_running_job_ends_cancelled(stack: Stack) -> None:
    job_id = detached(stack, "compose", "ambient drone", "--seconds", "600", "--bpm", "60")
    with MusicClient(stack.gateway_target, timeout=30) as music:
        deadline = time.monotonic() + 60
        while music.get_job(job_id).state == jobs_pb2.JOB_STATE_QUEUED and time.monotonic() < deadline:
            time.sleep(0.2)
        assert music.get_job(job_id).state == jobs_pb2.JOB_STATE_RUNNING
    cancel = dgx_music(stack, "jobs", "cancel", job_id)
    assert cancel.returncode == 0, cancel.stderr
    done = dgx_music(stack, "jobs", "watch", job_id, "--timeout", "60")
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == "CANCELLED"
    assert "cancelled" in done.stderr
    assert dgx_music(stack, "jobs", "cancel", job_id).stdout.strip() == "CANCELLED", "a finished job stays as it is"
