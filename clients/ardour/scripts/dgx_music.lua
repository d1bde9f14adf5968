-- dgx-music's session-side library, shared by its editor actions and the OSC bridge's action. Not an action
-- itself (no `ardour {}` header, so Ardour lists it nowhere): an action loads it with
--   local dgx = load (ARDOUR.LuaAPI.file_get_contents (path), "dgx_music", "t", _ENV) ()
-- (file_get_contents and load stay available when Ardour sandboxes its scripts; dofile does not).
--
-- dgx.place (plan, position) puts an ImportPlan (clients/ardour/plan.py: `return { ... }`, data only) into the
-- session at `position` (samples): one new MIDI track per generated track, named after it, with ACE Reasonable
-- Synth, its notes in a MIDI region made in the session (so no file import is needed, headless Ardour included);
-- one new audio track per audio part (imported with Editor:do_import, so only where the editor runs); section
-- markers as range markers at their bars; the plan's tempo and meter at the position when the session's differ
-- there. A step that fails undoes every earlier one (tracks, regions, markers, the tempo map) and the error is
-- raised again: nothing half-imported stays in the session.
--
-- Same Lua API in Ardour 7, 8 and 9 for everything used here; Session:remove_route (to undo a created track)
-- exists from Ardour 7.5 on: in 7.3 a track already made is removed through the editor (asking first).

local M = {}

M.SYNTH_URI = "https://community.ardour.org/node/7596" -- ACE Reasonable Synth (LV2), shipped with Ardour
M.SYNTH_NAME = "ACE Reasonable Synth"
-- A new MIDI region is cut from a bounce of the new, empty track: a few samples are enough, the region is then
-- stretched to the song's length (a MIDI region may be longer than its source).
local BOUNCE_SAMPLES = 64

-- Reading a plan ------------------------------------------------------------------------------------------------

-- The plan written by plan.py: loaded as text with an empty environment, so it can only be data.
function M.load_plan (path)
	local text = ARDOUR.LuaAPI.file_get_contents (path)
	if not text or text == "" then
		error ("dgx-music: no plan at " .. tostring (path), 0)
	end
	local chunk, err = load (text, "=plan", "t", {})
	if not chunk then
		error ("dgx-music: the plan " .. path .. " is not readable: " .. tostring (err), 0)
	end
	local plan = chunk ()
	M.check_plan (plan)
	return plan
end

local function is_number (value)
	return type (value) == "number" and value == value and value ~= math.huge and value ~= -math.huge
end

-- Refuses a plan whose parts are not what place() needs, naming the field, before anything is created.
local function need (condition, message)
	if not condition then
		error ("dgx-music: " .. message, 0)
	end
end

function M.check_plan (plan)
	need (type (plan) == "table", "a plan is a table")
	need (plan.timebase == "beats" or plan.timebase == "seconds", "plan.timebase is beats or seconds")
	need (plan.bpm == nil or (is_number (plan.bpm) and plan.bpm > 0), "plan.bpm must be positive")
	if plan.meter ~= nil then
		need (is_number (plan.meter.num) and plan.meter.num >= 1, "plan.meter.num must be >= 1")
		need (is_number (plan.meter.den) and plan.meter.den >= 1, "plan.meter.den must be >= 1")
	end
	for i, part in ipairs (plan.midi or {}) do
		need (type (part.name) == "string" and part.name ~= "", "plan.midi[" .. i .. "].name is empty")
		for j, note in ipairs (part.notes or {}) do
			local ok = is_number (note[1]) and note[1] >= 0 and is_number (note[2]) and note[2] > 0
				and is_number (note[3]) and note[3] >= 0 and note[3] <= 127
				and is_number (note[4]) and note[4] >= 1 and note[4] <= 127
			need (ok, "plan.midi[" .. i .. "].notes[" .. j .. "] is no note")
		end
	end
	for i, part in ipairs (plan.audio or {}) do
		need (type (part.name) == "string" and part.name ~= "", "plan.audio[" .. i .. "].name is empty")
		need (ARDOUR.LuaAPI.file_test (part.path, ARDOUR.LuaAPI.FileTest.IsRegular),
			"plan.audio[" .. i .. "].path: no file " .. tostring (part.path))
	end
	for i, marker in ipairs (plan.markers or {}) do
		need (type (marker.name) == "string", "plan.markers[" .. i .. "].name is no string")
		need (is_number (marker.bar) and marker.bar >= 0, "plan.markers[" .. i .. "].bar must be >= 0")
	end
end

-- Time -----------------------------------------------------------------------------------------------------------

-- The session's tempo (quarter notes a minute) and meter at `position` (samples). Read a sample later: Ardour 7.3
-- answers the tempo before a tempo point for the point's own position.
function M.tempo_at (position)
	local tm = Temporal.TempoMap.read ()
	local pos = Temporal.timepos_t (position + 1)
	local tempo = tm:tempo_at (pos):to_tempo ():quarter_notes_per_minute ()
	local meter = tm:meter_at (pos)
	return tempo, meter:divisions_per_bar (), meter:note_value ()
end

-- (Beats has no getter in Lua: a position's ticks through the tempo map are the way to a number.)
local function quarters_at (tm, position)
	return Temporal.timepos_t (position):ticks () / Temporal.ticks_per_beat
end

local function sample_at_quarters (tm, quarters)
	return Temporal.timepos_t.from_ticks (math.floor (quarters * Temporal.ticks_per_beat + 0.5)):samples ()
end

-- `position` moved to the nearest bar line of the session's grid (bars counted from the meter in force there).
-- TempoMap:round_to_bar works on BBT times, which Lua cannot turn back into positions: the bar is found in
-- quarter notes from the meter point instead.
function M.snap_to_bar (position)
	local tm = Temporal.TempoMap.read ()
	local meter = tm:meter_at (Temporal.timepos_t (position))
	local meter_q = quarters_at (tm, meter:to_point ():sample (Session:nominal_sample_rate ()))
	local bar_q = meter:divisions_per_bar () * 4 / meter:note_value ()
	local bars = math.floor ((quarters_at (tm, position) - meter_q) / bar_q + 0.5)
	return sample_at_quarters (tm, meter_q + math.max (bars, 0) * bar_q)
end

-- A place in the result (its timebase, from its start) as quarter notes after the result's own start.
local function result_quarters (plan, tm, start, start_q, value)
	if plan.timebase == "beats" then
		return value
	end
	local sr = Session:nominal_sample_rate ()
	return quarters_at (tm, start + math.floor (value * sr + 0.5)) - start_q
end

-- Quarter notes in `bars` bars of the plan's meter (the session's at the position when the plan has none).
local function bar_quarters (plan, meter_num, meter_den)
	local num = plan.meter and plan.meter.num or meter_num
	local den = plan.meter and plan.meter.den or meter_den
	return num * 4 / den
end

-- Undo -------------------------------------------------------------------------------------------------------------

-- What place() made so far, to be undone if a later step fails.
local function new_journal ()
	return { tracks = {}, regions = {}, markers = {}, tempo_map = nil }
end

local function remove_track (track)
	local ok = pcall (function () Session:remove_route (track) end)
	if ok then
		return true
	end
	-- Ardour 7.3 has no Session:remove_route in Lua: its editor removes selected tracks (after asking).
	return Editor ~= nil and pcall (function ()
		local selection = ArdourUI.SelectionList ()
		selection:push_back (Editor:rtav_from_route (track))
		Editor:set_selection (selection, ArdourUI.SelectionOp.Set)
		Editor:remove_tracks ()
	end)
end

function M.undo (journal)
	local left = {}
	for _, entry in ipairs (journal.regions) do
		pcall (function () entry.playlist:remove_region (entry.region) end)
	end
	for _, location in ipairs (journal.markers) do
		pcall (function () Session:locations ():remove (location) end)
	end
	if journal.tempo_map then
		-- update() releases the lock that write_copy() takes (abort_update() released the snapshot's): take it
		-- again, and put the snapshot in place of the copy.
		Temporal.TempoMap.write_copy ()
		Temporal.TempoMap.update (journal.tempo_map)
	end
	for i = #journal.tracks, 1, -1 do
		local track = journal.tracks[i]
		local name = track:name ()
		if not remove_track (track) then
			table.insert (left, name)
		end
	end
	journal.tracks, journal.regions, journal.markers, journal.tempo_map = {}, {}, {}, nil
	collectgarbage ()
	return left
end

-- Placing --------------------------------------------------------------------------------------------------------

-- A track name not yet in the session: "Lead", then "Lead 2", "Lead 3"...
local function free_name (name)
	local candidate = name
	local number = 2
	while not Session:route_by_name (candidate):isnil () do
		candidate = name .. " " .. number
		number = number + 1
	end
	return candidate
end

local function synth_info ()
	local info = ARDOUR.LuaAPI.new_plugin_info (M.SYNTH_URI, ARDOUR.PluginType.LV2)
	if info:isnil () then
		error ("dgx-music: " .. M.SYNTH_NAME .. " (" .. M.SYNTH_URI .. ") is not installed with this Ardour", 0)
	end
	return info
end

-- Strict I/O off: with it on, Ardour 7.3 races registering the synth's output ports (headless, about one
-- track in ten: "Port already exists", then an abort); off, never in hundreds of tracks.
local function new_midi_track (name, synth, order)
	local list = Session:new_midi_track (
		ARDOUR.ChanCount (ARDOUR.DataType ("midi"), 1), ARDOUR.ChanCount (ARDOUR.DataType ("audio"), 2),
		false, synth, nil, nil, 1, free_name (name), order or ARDOUR.PresentationInfo.max_order,
		ARDOUR.TrackMode.Normal, true)
	for track in list:iter () do
		return track
	end
	error ("dgx-music: Ardour made no MIDI track for " .. name, 0)
end

local function set_tempo (plan, journal, start)
	if plan.timebase ~= "beats" or not plan.bpm then
		return
	end
	local bpm, num, den = M.tempo_at (start)
	local meter = plan.meter or { num = num, den = den }
	if math.abs (bpm - plan.bpm) < 0.005 and meter.num == num and meter.den == den then
		return
	end
	-- A snapshot of the map as it is, for undo (write_copy() locks the map until update() or abort_update()).
	journal.tempo_map = Temporal.TempoMap.write_copy ()
	Temporal.TempoMap.abort_update ()
	local tm = Temporal.TempoMap.write_copy ()
	local pos = Temporal.timepos_t (start)
	tm:set_tempo (Temporal.Tempo (plan.bpm, plan.bpm, 4), pos)
	tm:set_meter (Temporal.Meter (meter.num, meter.den), pos)
	Temporal.TempoMap.update (tm)
end

-- The regions of `playlist` as a set of their ids.
local function region_ids (playlist)
	local ids = {}
	for region in playlist:region_list ():iter () do
		ids[region:to_stateful ():id ():to_s ()] = true
	end
	return ids
end

-- A new MIDI region on `track` at `start` holding the part's notes, `length_q` quarter notes long. The region is
-- shaped (length, name, notes) before it goes onto the playlist: Playlist:add_region places a copy of it.
local function place_notes (plan, journal, track, part, start, length_q)
	local tm = Temporal.TempoMap.read ()
	local start_q = quarters_at (tm, start)
	local itt = ARDOUR.InterThreadInfo ()
	local region = track:bounce_range (0, BOUNCE_SAMPLES, itt, ARDOUR.LuaAPI.nil_proc (), false, part.name)
	if region == nil or region:isnil () then
		error ("dgx-music: Ardour made no MIDI region for " .. part.name, 0)
	end
	local last_q = 0
	local notes = {}
	for _, note in ipairs (part.notes or {}) do
		local on_q = result_quarters (plan, tm, start, start_q, note[1])
		local off_q = result_quarters (plan, tm, start, start_q, note[1] + note[2])
		if off_q > on_q then
			table.insert (notes, { on_q, off_q - on_q, note[3], note[4], note[5] or 0 })
			last_q = math.max (last_q, off_q)
		end
	end
	length_q = math.max (length_q, last_q)
	if length_q <= 0 then
		length_q = 4
	end
	region:set_length (Temporal.timecnt_t (sample_at_quarters (tm, start_q + length_q) - start))
	region:set_name (part.name)
	if #notes > 0 then
		local model = region:to_midiregion ():midi_source (0):model ()
		local command = model:new_note_diff_command ("dgx-music: " .. part.name)
		for _, n in ipairs (notes) do
			command:add (ARDOUR.LuaAPI.new_noteptr (n[5], Temporal.Beats.from_double (n[1]),
				Temporal.Beats.from_double (n[2]), n[3], n[4]))
		end
		model:apply_command (Session, command)
	end
	local playlist = track:playlist ()
	local before = region_ids (playlist)
	-- Under an operation named as the editor's file import ("insert file"), the editor fits the track's note range
	-- to the region's notes, as it does for an imported MIDI file; otherwise notes outside C3-B3 stay out of view.
	Session:begin_reversible_command ("insert file")
	playlist:add_region (region, Temporal.timepos_t (start), 1, false)
	Session:commit_reversible_command (nil)
	for placed in playlist:region_list ():iter () do
		if not before[placed:to_stateful ():id ():to_s ()] then
			table.insert (journal.regions, { playlist = playlist, region = placed })
		end
	end
end

local function route_ids ()
	local ids = {}
	for route in Session:get_routes ():iter () do
		ids[route:to_stateful ():id ():to_s ()] = true
	end
	return ids
end

-- The audio parts, through the editor's import (one new track per file), renamed after their parts.
local function place_audio (plan, journal, start)
	if #(plan.audio or {}) == 0 then
		return
	end
	if not Editor then
		error ("dgx-music: audio is imported through Ardour's editor, which this Ardour (headless) has not", 0)
	end
	for _, part in ipairs (plan.audio) do
		local before = route_ids ()
		local files = C.StringVector ()
		files:push_back (part.path)
		local pos = Temporal.timepos_t (start)
		Editor:do_import (files, Editing.ImportDistinctFiles, Editing.ImportAsTrack, ARDOUR.SrcQuality.SrcBest,
			ARDOUR.MidiTrackNameSource.SMFTrackName, ARDOUR.MidiTempoMapDisposition.SMFTempoIgnore,
			pos, ARDOUR.PluginInfo (), ARDOUR.Track (), false)
		local made = nil
		for route in Session:get_routes ():iter () do
			if not before[route:to_stateful ():id ():to_s ()] then
				local track = route:to_track ()
				if not track:isnil () then
					table.insert (journal.tracks, track)
					made = track
				end
			end
		end
		if not made then
			error ("dgx-music: Ardour did not import " .. part.path, 0)
		end
		made:set_name (free_name (part.name))
	end
end

local function place_markers (plan, journal, start, bar_q)
	local tm = Temporal.TempoMap.read ()
	local start_q = quarters_at (tm, start)
	local markers = plan.markers or {}
	local song_end_q = plan.timebase == "beats" and plan.length or 0
	for i, marker in ipairs (markers) do
		local from_q = start_q + marker.bar * bar_q
		local next_marker = markers[i + 1]
		local to_q
		if next_marker then
			to_q = start_q + next_marker.bar * bar_q
		elseif song_end_q > 0 then
			to_q = start_q + song_end_q
		else
			to_q = from_q + bar_q
		end
		if to_q <= from_q then
			to_q = from_q + bar_q
		end
		local from = Temporal.timepos_t (sample_at_quarters (tm, from_q))
		local to = Temporal.timepos_t (sample_at_quarters (tm, to_q))
		local location = Session:locations ():add_range (from, to)
		table.insert (journal.markers, location)
		location:set_name (marker.name)
	end
end

-- The MIDI parts: every track first, then the regions (a track made right after a bounce can fail to register
-- its ports in Ardour 7.3).
local function place_midi (plan, journal, position, order, synth, length_q)
	local tracks = {}
	for i, part in ipairs (plan.midi or {}) do
		tracks[i] = new_midi_track (part.name, synth, order and order + i - 1 or nil)
		table.insert (journal.tracks, tracks[i])
	end
	for i, part in ipairs (plan.midi or {}) do
		place_notes (plan, journal, tracks[i], part, position, length_q)
	end
end

-- The steps of place(), in order; a test may replace one to see the earlier ones undone.
M.steps = {
	tempo = set_tempo,
	audio = place_audio,
	midi = place_midi,
	markers = place_markers,
}

-- Everything of `plan` into the session at `position` (samples). Answers a report: the tracks made (name,
-- kind), the markers (name, position), the position used. On failure, undoes what it made and raises the error.
-- `order` (optional): where the new MIDI tracks go in the editor (a PresentationInfo order; default: last).
-- The audio goes first: its import is the step most likely to fail (a file Ardour cannot read), and what fails
-- first leaves the least to undo.
function M.place (plan, position, order)
	M.check_plan (plan)
	local journal = new_journal ()
	local synth = #(plan.midi or {}) > 0 and synth_info () or nil
	local ok, err = pcall (function ()
		M.steps.tempo (plan, journal, position)
		local _, num, den = M.tempo_at (position)
		local bar_q = bar_quarters (plan, num, den)
		local length_q = plan.timebase == "beats" and (plan.length or 0) or 0
		if plan.timebase == "seconds" and (plan.length or 0) > 0 then
			local tm = Temporal.TempoMap.read ()
			length_q = result_quarters (plan, tm, position, quarters_at (tm, position), plan.length)
		end
		M.steps.audio (plan, journal, position)
		M.steps.midi (plan, journal, position, order, synth, length_q)
		M.steps.markers (plan, journal, position, bar_q)
	end)
	if not ok then
		local left = M.undo (journal)
		if #left > 0 then
			err = tostring (err) .. " (tracks left to remove by hand: " .. table.concat (left, ", ") .. ")"
		end
		error (err, 0)
	end
	local report = { position = position, tracks = {}, markers = {} }
	for _, track in ipairs (journal.tracks) do
		local kind = track:data_type ():to_string ()
		table.insert (report.tracks, { name = track:name (), kind = kind })
	end
	for _, location in ipairs (journal.markers) do
		table.insert (report.markers, { name = location:name (), position = location:start ():samples () })
	end
	journal = nil
	collectgarbage ()
	return report
end

-- Talking to dgx-music ---------------------------------------------------------------------------------------------

-- `s` quoted for a POSIX shell.
function M.shell_quote (s)
	return "'" .. string.gsub (tostring (s), "'", "'\\''") .. "'"
end

-- Runs `<command> ardour run <argv...>` (command: the install's dgx-music, a list of strings) and follows its
-- output: each "progress F TEXT" line moves `on_progress (fraction, text)`, which answers false to cancel; the
-- last "plan PATH" line is the plan. Answers the plan's path, or nil and the error line (or "cancelled").
function M.run (command, argv, on_progress)
	if not (io and io.popen) then
		return nil, "Ardour runs its Lua scripts sandboxed (Preferences > Scripting): "
			.. "dgx-music's actions need to start dgx-music"
	end
	local parts = {}
	for _, arg in ipairs (command) do
		table.insert (parts, M.shell_quote (arg))
	end
	table.insert (parts, "ardour")
	table.insert (parts, "run")
	for _, arg in ipairs (argv) do
		table.insert (parts, M.shell_quote (arg))
	end
	local pipe = io.popen (table.concat (parts, " ") .. " 2>&1", "r")
	if not pipe then
		return nil, "could not start " .. table.concat (command, " ")
	end
	local plan, failure, last = nil, nil, nil
	for line in pipe:lines () do
		local fraction, text = string.match (line, "^progress ([%d%.]+) ?(.*)$")
		if fraction then
			if on_progress and on_progress (tonumber (fraction), text) == false then
				pipe:close () -- the child sees its pipe closed at its next line and stops
				return nil, "cancelled"
			end
		elseif string.match (line, "^plan ") then
			plan = string.sub (line, 6)
		elseif string.match (line, "^error ") then
			failure = string.sub (line, 7)
		elseif line ~= "" then
			last = line
		end
	end
	local ok, _, code = pipe:close ()
	if plan and ok then
		return plan
	end
	return nil, failure or last or ("dgx-music ended with status " .. tostring (code))
end

-- The editor's side (GUI only) -------------------------------------------------------------------------------------

M.TITLE = "dgx-music"

function M.message (text, kind)
	LuaDialog.Message (M.TITLE, text, kind or LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
end

-- Where a session keeps what dgx-music made for it (the plans, their MIDI and audio files).
function M.results_folder ()
	return ARDOUR.LuaAPI.build_filename (Session:path (), "dgx-music")
end

-- The installed settings of an action, or a dialog saying the action is not installed.
function M.check_settings (settings)
	if type (settings) ~= "table" or type (settings.command) ~= "table" or not settings.library then
		M.message ("This action is not installed: run `dgx-music ardour install` and restart Ardour.")
		return false
	end
	return true
end

-- The work of an action (`dgx-music ardour run <argv>`) under a progress window that can cancel it, then its plan
-- placed at `position` (and `order`). Errors end in a dialog; answers the placement's report, or nil.
function M.act (title, settings, argv, position, order)
	table.insert (argv, "--server")
	table.insert (argv, settings.server)
	table.insert (argv, "--out")
	table.insert (argv, M.results_folder ())
	local progress = LuaDialog.ProgressWindow (title, true)
	local plan_path, err = M.run (settings.command, argv, function (fraction, text)
		return not progress:progress (fraction, text)
	end)
	if not plan_path then
		progress:done ()
		if err ~= "cancelled" then
			M.message (title .. " failed:\n" .. tostring (err))
		end
		return nil
	end
	progress:progress (1, "placing the result in the session")
	local ok, report = pcall (function ()
		return M.place (M.load_plan (plan_path), position, order)
	end)
	progress:done ()
	if not ok then
		M.message (title .. ": nothing was imported.\n" .. tostring (report))
		return nil
	end
	return report
end

-- The selected regions of the editor, as a list.
function M.selected_regions ()
	local regions = {}
	for region in Editor:get_selection ().regions:regionlist ():iter () do
		table.insert (regions, region)
	end
	return regions
end

-- `run` arguments for an audio region's audio: its files (one per channel, as Ardour keeps them), its first frame
-- in them and its length. Nil and why for a region that is not audio in files.
function M.region_audio_args (region)
	local audio = region:to_audioregion ()
	if audio:isnil () then
		return nil, region:name () .. " is not an audio region"
	end
	local args = {}
	for n = 0, audio:n_channels () - 1 do
		-- Through Region:source: an AudioSource's own to_filesource answers nil in Ardour 7.3.
		local source = region:source (n):to_filesource ()
		if source:isnil () then
			return nil, region:name () .. " has audio that is in no file"
		end
		table.insert (args, "--channel")
		table.insert (args, source:path ())
	end
	table.insert (args, "--start")
	table.insert (args, tostring (region:start ():samples ()))
	table.insert (args, "--length")
	table.insert (args, tostring (region:length ():samples ()))
	return args
end

-- The track a region is on, and the editor order just under it (for new tracks "under" the region).
function M.order_under (region)
	local playlist = region:playlist ()
	for route in Session:get_routes ():iter () do
		local track = route:to_track ()
		if not track:isnil () and track:playlist ():to_stateful ():id ():to_s () == playlist:to_stateful ():id ():to_s () then
			return route:presentation_info_ptr ():order () + 1
		end
	end
	return nil
end

return M
