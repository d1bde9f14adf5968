"""The actions' work against the real stack: `dgx-music ardour run` composes (in the session's tempo unless the
prompt names one), transcribes, separates and generates, printing progress lines and its plan's Lua file, or one
error line naming the field; and the Compose action itself, run by Ardour 7.3's own script manager (headless, its
dialogs answered), places the stack's song in the session."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from ardour_headless import Run, needs_ardour, run_lua
from ardour_script_manager import run_action_lua, ui_scripts_state
from clients.ardour import install as installer
from clients.ardour.plan import lua_string
from deploy.launcher import Stack

LOAD_PLAN = """
local plan = dgx.load_plan (PLAN)
local meter = plan.meter or {}
report ("plan", plan.action, plan.bpm, meter.num, meter.den, #plan.midi, #plan.audio)
for _, part in ipairs (plan.midi) do report ("midi", part.name, #part.notes) end
for _, part in ipairs (plan.audio) do report ("audio", part.name, part.path) end
for _, marker in ipairs (plan.markers) do report ("marker", marker.name, marker.bar) end
"""


def run_action(stack: Stack, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "clients.cli", "ardour", "run", *args]
    argv += ["--server", stack.gateway_target, "--out", str(tmp_path / "results")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def plan_path(done: subprocess.CompletedProcess[str]) -> Path:
    """The protocol: progress lines (fractions never going back), then the plan's path, last."""
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    progress = [float(line.split()[1]) for line in lines if line.startswith("progress ")]
    assert progress
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    assert lines[-1].startswith("plan ")
    path = Path(lines[-1].removeprefix("plan "))
    assert path.exists()
    return path


def read_plan(path: Path, folder: Path) -> dict[str, list[list[str]]]:
    """The plan as Ardour's Lua reads it (dgx.load_plan, in a session under `folder`): what each part holds."""
    run = run_lua(f"PLAN = {lua_string(str(path))}\n" + LOAD_PLAN, folder)
    assert run.closed, run.output
    return {kind: run.rows(kind) for kind in ("plan", "midi", "audio", "marker")}


def wav(path: Path, seconds: float = 2.0, rate: int = 44100) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.4)
    soundfile.write(path, np.stack([tone, tone], axis=1).astype(np.float32), rate)
    return path


@needs_ardour
def test_compose_keeps_the_tempo_the_prompt_names_and_takes_the_sessions_otherwise(
    stack: Stack, tmp_path: Path
) -> None:
    done = run_action(stack, tmp_path, "compose", "house 124 BPM A minor", "--bars", "4", "--session-bpm", "97")
    named = read_plan(plan_path(done), tmp_path / "ardour1")
    [(action, bpm, num, den, midi_parts, audio_parts)] = named["plan"]
    assert (action, float(bpm), f"{num}/{den}", audio_parts) == ("compose", 124.0, "4/4", "0")
    assert int(midi_parts) == len(named["midi"]) > 0
    assert all(int(notes) > 0 for _, notes in named["midi"])
    assert named["marker"][0][1] == "0"

    done = run_action(
        stack, tmp_path, "compose", "lofi chill", "--bars", "4", "--session-bpm", "97", "--session-meter", "3/4"
    )
    session = read_plan(plan_path(done), tmp_path / "ardour2")
    [(_, bpm, num, den, _, _)] = session["plan"]
    assert (float(bpm), f"{num}/{den}") == (97.0, "3/4")


def test_a_refused_request_is_one_error_line_naming_the_field_and_exit_2(stack: Stack, tmp_path: Path) -> None:
    done = run_action(stack, tmp_path, "compose", "house", "--key", "H major")
    assert done.returncode == 2
    errors = [line for line in done.stdout.splitlines() if line.startswith("error ")]
    assert len(errors) == 1
    assert errors[0].startswith("error INVALID_ARGUMENT: ")
    assert "field options.key: " in errors[0]
    assert not any(line.startswith("plan ") for line in done.stdout.splitlines())


def test_a_server_that_is_not_there_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "clients.cli", "ardour", "run", "compose", "house", "--timeout", "3"]
    argv += ["--server", "127.0.0.1:9", "--out", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("error UNAVAILABLE: ")


@needs_ardour
def test_transcribe_separate_and_generate_write_their_plans(stack: Stack, tmp_path: Path) -> None:
    audio = wav(tmp_path / "region.wav")

    done = run_action(stack, tmp_path, "transcribe", "--channel", str(audio), "--start", "22050", "--name", "Vox MIDI")
    transcribed = read_plan(plan_path(done), tmp_path / "t")
    assert transcribed["midi"][0][0] == "Vox MIDI"
    assert int(transcribed["midi"][0][1]) > 0

    separated = read_plan(plan_path(run_action(stack, tmp_path, "separate", "--channel", str(audio))), tmp_path / "s")
    assert sorted(name for name, _ in separated["audio"]) == [
        "stems bass",
        "stems drums",
        "stems other",
        "stems vocals",
    ]

    done = run_action(stack, tmp_path, "generate", "calm piano", "--seconds", "1", "--seed", "1")
    generated = read_plan(plan_path(done), tmp_path / "g")
    [(name, path)] = generated["audio"]
    assert name == "calm piano"
    assert soundfile.info(path).duration == pytest.approx(1.0, abs=0.1)


@needs_ardour
def test_the_compose_action_places_the_stacks_song_in_the_session(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    done = installer.install(7, installer.dgx_music_command(), stack.gateway_target)
    state = tmp_path / "state.lua"
    state.write_bytes(ui_scripts_state(config / "ardour7" / "ui_scripts"))
    answers = '{ prompt = "house 124 BPM A minor", bars = 4, key = "", seed = "7", stems = false }'

    run = run_lua(
        run_action_lua(state, done.slots["dgx-music: Compose at playhead"], answers) + "report_session ()\n",
        tmp_path / "ardour",
        bpm=120.0,
        timeout=240,
    )

    assert run.closed, run.output
    assert run.rows("message") == []
    assert run.rows("progress-window") == [["Compose at playhead"]]
    assert run.rows("progress")[-1] == ["1", "placing the result in the session"]
    tracks = run.rows("track")
    assert tracks
    assert all(kind == "midi" and plugin == "ACE Reasonable Synth" for _, kind, plugin in tracks)
    # The playhead at 0; the song's 124 BPM (the prompt named it) over 4 bars of 4/4.
    for _, _, start, length, notes in run.rows("region"):
        assert int(start) == 0
        assert int(length) == pytest.approx(16 * 60 / 124 * 48000, abs=2)
        assert int(notes) > 0
    assert run.rows("marker")[0][1] == "0"


@needs_ardour
def test_cancel_in_the_progress_window_ends_the_work_within_a_heartbeat(stack: Stack, tmp_path: Path) -> None:
    command = ", ".join(lua_string(part) for part in installer.dgx_music_command())
    body = f"""
local argv = {{ "compose", "ambient drone 60 BPM", "--bars", "128", "--no-stems",
	"--server", {lua_string(stack.gateway_target)}, "--out", {lua_string(str(tmp_path / "results"))} }}
local seen = 0
local started = ARDOUR.LuaAPI.monotonic_time ()
local plan, err = dgx.run ({{ {command} }}, argv, function (fraction, text)
	seen = seen + 1
	return ARDOUR.LuaAPI.monotonic_time () - started < 1500000 -- Cancel after 1.5 s of work
end)
report ("run", plan, err, seen, (ARDOUR.LuaAPI.monotonic_time () - started) / 1e6)
"""
    run = run_lua(body, tmp_path / "ardour", timeout=120)
    assert run.closed, run.output
    [(plan, error, seen, seconds)] = run.rows("run")
    assert (plan, error) == ("nil", "cancelled")
    assert int(seen) >= 2
    # The work was still going (a 128-bar song renders for longer); its process ended at its next heartbeat.
    assert float(seconds) < 1.5 + 1.0


# An audio region to transcribe, headless: a bounce of a new audio track (silence, 2 s) placed at 100 000 samples,
# and the editor's selection holding it (headless Ardour has no editor: this stands in for Editor:get_selection).
SELECTED_REGION = """
local voice
for track in Session:new_audio_track (1, 2, nil, 1, "Voice", ARDOUR.PresentationInfo.max_order,
	ARDOUR.TrackMode.Normal, true):iter () do voice = track end
local take = voice:bounce_range (0, 96000, ARDOUR.InterThreadInfo (), ARDOUR.LuaAPI.nil_proc (), false, "Voice take")
voice:playlist ():add_region (take, Temporal.timepos_t (100000), 1, false)
local selected = {}
for region in voice:playlist ():region_list ():iter () do table.insert (selected, region) end
Editor = {
	get_selection = function ()
		return { regions = { regionlist = function ()
			return { iter = function () local i = 0 return function () i = i + 1 return selected[i] end end }
		end } }
	end,
}
voice, take = nil, nil
"""


# The take's file made to sound: a 440 Hz tone, pulsed (what `dgx-music ardour run` reads is the file itself).
SOUNDING = f"""
local path = selected[1]:source (0):to_filesource ():path ()
os.execute (dgx.shell_quote ({lua_string(sys.executable)}) .. " -c " .. dgx.shell_quote (
	"import sys, numpy as np, soundfile as sf; t = np.arange(96000) / 48000; "
	.. "sf.write(sys.argv[1], (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.4)).astype('float32'), 48000)")
	.. " " .. dgx.shell_quote (path))
"""


def transcribe_action(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sounding: bool) -> Run:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    done = installer.install(7, installer.dgx_music_command(), stack.gateway_target)
    state = tmp_path / "state.lua"
    state.write_bytes(ui_scripts_state(config / "ardour7" / "ui_scripts"))
    action = run_action_lua(state, done.slots["dgx-music: Transcribe selected regions"])
    body = SELECTED_REGION + (SOUNDING if sounding else "") + action + "selected = nil\nreport_session ()\n"
    run = run_lua(body, tmp_path / "ardour", timeout=240)
    assert run.closed, run.output
    return run


@needs_ardour
def test_the_transcribe_action_puts_a_midi_track_under_the_region_aligned_to_it(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = transcribe_action(stack, tmp_path, monkeypatch, sounding=True)

    assert run.rows("message") == []
    assert run.rows("progress-window") == [["Transcribe Voice take (1 of 1)"]]
    assert [row[:2] for row in run.rows("track")] == [["Voice", "audio"], ["Voice take MIDI", "midi"]]
    regions = {row[0]: row[1:] for row in run.rows("region")}
    assert regions["Voice take MIDI"][:3] == ["Voice take MIDI", "100000", "96000"]

    assert int(regions["Voice take MIDI"][3]) > 0


@needs_ardour
def test_a_refused_transcription_ends_in_a_dialog_and_imports_nothing(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = transcribe_action(stack, tmp_path, monkeypatch, sounding=False)

    [(message,)] = run.rows("message")
    assert message.startswith("Transcribe Voice take (1 of 1) failed: INVALID_ARGUMENT: ")
    assert "field audio: " in message
    assert "@ progress-done" in run.output.splitlines()
    assert [row[0] for row in run.rows("track")] == ["Voice"]
