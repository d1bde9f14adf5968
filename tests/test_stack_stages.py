"""Nothing computed is thrown away, through the real stack (Triton, Redis, the gateway) and the `dgx-music` CLI:
a compose that asks for separation on a server without Demucs weights is refused before any model works, naming
the field and the pull command (exit 69), as is a generate following a MIDI melody without MusicGen weights (before
the melody is rendered); and when the real demucs model refuses the song at run time (longer than
its max_separate_seconds) after the MIDI, the mix and the stems were streamed, those are written with the
transcriptions that ran after it, the failed stage is told (and in --json), and the exit code is its error's - as a
plain call and as a job."""

import re
from pathlib import Path

import mido
from test_stack_cli_scripting import dgx_music, results, said

from conftest import stack_settings
from deploy.launcher import Stack
from separator import write_random_htdemucs
from triton_statistics import settled_counts

SONG = ("compose", "funk 100 BPM", "--bars", "2", "--seed", "4")


def test_compose_separating_without_demucs_weights_is_refused_before_any_work(tmp_path: Path) -> None:
    settings = stack_settings(
        tmp_path,
        models=["text2midi", "fluidsynth", "demucs"],
        weights_dir=tmp_path / "weights",
        demucs_model="htdemucs",
    )
    out = tmp_path / "song"
    with Stack(settings) as bare:
        refused = dgx_music(bare, *SONG, "--separate", "demucs", "--out", str(out), "--json")
        composed = {model: settled_counts(bare, model)[0] for model in ("text2midi", "fluidsynth")}
        plain = dgx_music(bare, *SONG, "--out", str(tmp_path / "plain"))
    assert refused.returncode == 69, refused.stderr
    (failed,) = results(refused)
    assert failed["error"]["code"] == "FAILED_PRECONDITION"
    assert [v["field"] for v in failed["error"]["violations"]] == ["separate"]
    assert failed["error"]["message"].startswith("separate: model demucs: weights of demucs model 'htdemucs'")
    assert "dgx-music models pull htdemucs" in failed["error"]["message"]
    assert composed == {"text2midi": 0, "fluidsynth": 0}  # neither composed nor rendered anything
    assert not out.exists()
    assert plain.returncode == 0, plain.stderr  # a compose that needs no demucs runs


def test_generate_following_a_midi_melody_without_musicgen_weights_is_refused_before_rendering(tmp_path: Path) -> None:
    melody = tmp_path / "melody.mid"
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=90), mido.Message("note_off", note=60, time=480)])
    mido.MidiFile(tracks=[track]).save(melody)
    settings = stack_settings(tmp_path, models=["fluidsynth", "musicgen"], musicgen_model="musicgen-melody")
    out = tmp_path / "clip.wav"
    with Stack(settings) as bare:
        done = dgx_music(bare, "generate", "piano", "--melody-from", str(melody), "--out", str(out), "--json")
        rendered = settled_counts(bare, "fluidsynth")[0]
    assert done.returncode == 69, done.stderr
    (failed,) = results(done)
    assert failed["error"]["code"] == "FAILED_PRECONDITION"
    assert [v["field"] for v in failed["error"]["violations"]] == ["model"]
    assert "dgx-music models pull musicgen-melody" in failed["error"]["message"]
    assert rendered == 0
    assert not out.exists()


def test_a_separation_the_model_refuses_at_run_time_keeps_what_came_before(tmp_path: Path) -> None:
    write_random_htdemucs(tmp_path / "weights", "htdemucs")
    settings = stack_settings(
        tmp_path,
        models=["text2midi", "fluidsynth", "basic_pitch", "demucs"],
        weights_dir=tmp_path / "weights",
        demucs_model="htdemucs",
        max_separate_seconds=1.0,  # read by the demucs model itself: the song is longer
    )
    out, job_out = tmp_path / "song", tmp_path / "job"
    asked = ("--transcribe", "--separate", "demucs", "--no-cache")
    with Stack(settings) as stack:
        done = dgx_music(stack, *SONG, *asked, "--out", str(out), "--json")
        detached = dgx_music(stack, *SONG, *asked, "--detach", "--json")
        (submitted,) = results(detached)
        watched = dgx_music(stack, "jobs", "watch", submitted["job_id"], "--out", str(job_out), "--json")

    # The stage's error decides the exit code: the model's refusal names the audio, over a limit (2).
    assert done.returncode == 2, done.stderr
    (song,) = results(done)
    (failed,) = song["failed_stages"]
    assert failed["stage"] == "separating"
    assert failed["field"] == "separate"
    assert failed["code"] == "RESOURCE_EXHAUSTED"
    assert re.fullmatch(r"separate: the song's audio is [\d.]+ s long, over the limit of 1 s", failed["message"])
    assert failed["fields"] == ["separate"]
    assert song["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert "separating failed (asked for by separate)" in said(done)
    files = {Path(path).relative_to(out).as_posix() for path in song["files"]}
    tracks = {track["name"] for track in song["song"]["tracks"]}
    pitched = {track["name"] for track in song["song"]["tracks"] if not track.get("is_drum")}
    assert files == {
        "song.mid",
        "mix.wav",
        *(f"stems/{name}.wav" for name in tracks),
        *(f"transcribed/{name}.mid" for name in pitched),
    }
    assert all((out / name).stat().st_size > 0 for name in files)

    assert watched.returncode == 2, watched.stderr  # over a limit: input to fix
    job, kept = results(watched)
    assert (job["state"], job["errorCode"]) == ("JOB_STATE_FAILED", "RESOURCE_EXHAUSTED")
    assert int(job["resultBytes"]) > 0
    assert [f["stage"] for f in kept["failed_stages"]] == ["separating"]
    assert {Path(path).relative_to(job_out).as_posix() for path in kept["files"]} == files
