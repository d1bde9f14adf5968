"""Ardour 7.3 without its GUI, for the tests of the session-side Lua: `ardour7-lua` runs a script in a fresh session
(the None (Dummy) backend, 48 kHz, a tempo map set), always under a timeout and in a process group of its own that is
killed afterwards (Ardour can hang on exit), with HOME and XDG folders of the test's own.

A script reports by printing lines that start with "@ " followed by tab-separated fields; `Run.rows(kind)` reads
them back."""

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from clients.ardour.plan import lua_string

ARDOUR_LUA = shutil.which("ardour7-lua")
LIBRARY = Path(__file__).resolve().parents[1] / "clients" / "ardour" / "scripts" / "dgx_music.lua"
SAMPLE_RATE = 48000

needs_ardour = pytest.mark.skipif(ARDOUR_LUA is None, reason="Ardour 7.3 (apt ardour) is not installed: make test")

# Lua helpers every script has: report (the "@ " lines), a session with a tempo map, the library loaded as dgx.
PROLOGUE = """
local function report (...)
	local fields = {}
	for i = 1, select ("#", ...) do fields[i] = tostring (select (i, ...)) end
	print ("@ " .. table.concat (fields, "\\t"))
	io.stdout:flush ()
end
AudioEngine:set_backend ("None (Dummy)", "", "")
assert (create_session (SESSION_DIR, "test", 48000), "no session")
do
	local tm = Temporal.TempoMap.write_copy ()
	tm:set_tempo (Temporal.Tempo (SESSION_BPM, SESSION_BPM, 4), Temporal.timepos_t (0))
	tm:set_meter (Temporal.Meter (SESSION_METER_NUM, SESSION_METER_DEN), Temporal.timepos_t (0))
	Temporal.TempoMap.update (tm)
end
local dgx = load (ARDOUR.LuaAPI.file_get_contents (LIBRARY), "dgx_music", "t", _ENV) ()

-- What the session holds, reported: tracks (name, kind, first plugin), regions (track, name, position, length,
-- notes), notes (track, start in quarter notes from the region's start, pitch), markers (name, start, end), tempo.
local function report_session ()
	for route in Session:get_tracks ():iter () do
		local track = route:to_track ()
		local plugin = route:nth_plugin (0)
		local plugin_name = plugin:isnil () and "" or plugin:display_name ()
		report ("track", track:name (), track:data_type ():to_string (), plugin_name)
		for region in track:playlist ():region_list ():iter () do
			local midi = region:to_midiregion ()
			local count = 0
			if not midi:isnil () then
				for note in ARDOUR.LuaAPI.note_list (midi:model ()):iter () do
					count = count + 1
					local beats, ticks = string.match (note:time ():str (), "^(%d+):(%d+)$")
					report ("note", track:name (), tonumber (beats) + tonumber (ticks) / Temporal.ticks_per_beat,
						note:note (), note:velocity (), note:channel ())
				end
			end
			report ("region", track:name (), region:name (), region:position ():samples (),
				region:length ():samples (), count)
		end
	end
	for location in Session:locations ():list ():iter () do
		if location:is_range_marker () or location:is_mark () then
			report ("marker", location:name (), location:start ():samples (), location:_end ():samples ())
		end
	end
end
"""

EPILOGUE = """
Session:save_state ("")
dgx = nil
collectgarbage ()
close_session ()
report ("closed")
"""


@dataclass
class Run:
    returncode: int
    output: str

    def rows(self, kind: str) -> list[list[str]]:
        return [line[2:].split("\t")[1:] for line in self.output.splitlines() if line.startswith(f"@ {kind}\t")]

    @property
    def closed(self) -> bool:
        return "@ closed" in self.output.splitlines()


def run_lua(
    body: str,
    folder: Path,
    *,
    bpm: float = 120.0,
    meter: tuple[int, int] = (4, 4),
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> Run:
    """`body` in a fresh session (under folder/session), between the prologue and the epilogue."""
    assert ARDOUR_LUA is not None
    header = (
        f"SESSION_DIR = {lua_string(str(folder / 'session'))}\n"
        f"LIBRARY = {lua_string(str(LIBRARY))}\n"
        f"SESSION_BPM = {bpm!r}\nSESSION_METER_NUM = {meter[0]}\nSESSION_METER_DEN = {meter[1]}\n"
    )
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "test.lua"
    script.write_text(header + PROLOGUE + body + EPILOGUE, encoding="utf-8")
    home = folder / "home"
    home.mkdir(exist_ok=True)
    environment = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        **(env or {}),
    }
    process = subprocess.Popen(
        [ARDOUR_LUA, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        return Run(-signal.SIGKILL, output + "\n(killed after the timeout)")
    finally:
        # Ardour can hang on exit, and leaves helpers behind: the whole group goes.
        _kill_group(process)
    return Run(process.returncode, output)


def _kill_group(process: "subprocess.Popen[str]") -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
