ardour {
	["type"] = "EditorAction",
	name = "dgx-music bridge",
	license = "Apache-2.0",
	author = "dgx-music",
	description = [[Runs the one request that `dgx-music ardour bridge` (or the MCP server) left in its spool folder: place a result at the playhead or a bar, list tracks or markers, set the tempo. It opens no dialog: the bridge triggers it over OSC (/access_action LuaAction/script-N) and reads its reply file.]]
}

-- The bridge's side inside Ardour. clients/ardour/bridge.py writes `request.lua` (`return { id=..., op=... }`, data
-- only) into the spool folder, holding the folder's lock, then triggers this action; the action reads the request
-- (with an empty environment, so it can only be data), removes it, does it with dgx_music.lua (the library the
-- editor actions share), and writes `reply.json` (through a temporary file and a rename, so the bridge never reads
-- half a reply). Triggered by hand with no request waiting, it does nothing.
--
-- The spool folder: $DGXMUSIC_ARDOUR_SPOOL, else $XDG_CACHE_HOME/dgx-music/ardour-bridge (~/.cache when unset),
-- the same rule as bridge.py's.

function factory (params) return function ()

	-- What `dgx-music ardour install` wrote in (the library's path among it).
	local settings = --[[settings]] {}

	local function getenv (name)
		local value = os.getenv (name)
		if value == nil or value == "" then
			return nil
		end
		return value
	end

	local function spool_folder ()
		local spool = getenv ("DGXMUSIC_ARDOUR_SPOOL")
		if spool then
			return spool
		end
		local cache = getenv ("XDG_CACHE_HOME") or ((getenv ("HOME") or "/tmp") .. "/.cache")
		return cache .. "/dgx-music/ardour-bridge"
	end

	local function exists (path)
		return ARDOUR.LuaAPI.file_test (path, ARDOUR.LuaAPI.FileTest.IsRegular)
	end

	local function folder_of (path)
		return string.match (path or "", "^(.*)/[^/]*$")
	end

	-- dgx_music.lua: where the install put it, else beside this script (its origin, when Ardour recorded it),
	-- else in Ardour's user scripts folder.
	local function load_library ()
		local candidates = { settings.library }
		local origin = params and params["x-script-origin"]
		if folder_of (origin) then
			table.insert (candidates, folder_of (origin) .. "/dgx_music.lua")
		end
		table.insert (candidates, ARDOUR.LuaAPI.build_filename (ARDOUR.user_config_directory (-1), "scripts", "dgx_music.lua"))
		for _, path in ipairs (candidates) do
			if exists (path) then
				local chunk, err = load (ARDOUR.LuaAPI.file_get_contents (path), "=dgx_music", "t", _ENV)
				if not chunk then
					error ("dgx-music: the library " .. path .. " does not load: " .. tostring (err), 0)
				end
				return chunk ()
			end
		end
		error ("dgx-music: dgx_music.lua is not installed (run `dgx-music ardour install`)", 0)
	end

	-- JSON ----------------------------------------------------------------------------------------------------------

	local ARRAY = {} -- the metatable that marks a table as a JSON array (an empty table is an object otherwise)

	local function array (items)
		return setmetatable (items or {}, ARRAY)
	end

	local function json_string (s)
		s = string.gsub (tostring (s), '[%c"\\]', function (c)
			return string.format ("\\u%04x", string.byte (c))
		end)
		return '"' .. s .. '"'
	end

	local function json (value)
		local kind = type (value)
		if kind == "nil" then
			return "null"
		elseif kind == "boolean" then
			return tostring (value)
		elseif kind == "number" then
			if value ~= value or value == math.huge or value == -math.huge then
				return "null"
			end
			if math.type (value) == "integer" then
				return string.format ("%d", value)
			end
			return string.format ("%.17g", value)
		elseif kind == "string" then
			return json_string (value)
		elseif kind == "table" then
			local out = {}
			if getmetatable (value) == ARRAY or value[1] ~= nil then
				for _, item in ipairs (value) do
					table.insert (out, json (item))
				end
				return "[" .. table.concat (out, ",") .. "]"
			end
			for key, item in pairs (value) do
				table.insert (out, json_string (key) .. ":" .. json (item))
			end
			return "{" .. table.concat (out, ",") .. "}"
		end
		return json_string (tostring (value))
	end

	-- The session -----------------------------------------------------------------------------------------------------

	-- Bars are counted from 0 (the session's bar 1 is bar 0), as the plan's markers are.
	local function sample_at_bar (bar)
		local tm = Temporal.TempoMap.read ()
		return tm:sample_at_beats (tm:quarters_at_bbt (Temporal.BBT_TIME (bar + 1, 1, 0)))
	end

	local function bar_at (sample)
		return Temporal.TempoMap.read ():bbt_at (Temporal.timepos_t (sample)).bars - 1
	end

	local function regions_of (track)
		local regions = array ()
		for region in track:playlist ():region_list ():iter () do
			local start = region:position ():samples ()
			table.insert (regions, {
				name = region:name (),
				position = start,
				length = region:length ():samples (),
				bar = bar_at (start),
			})
		end
		table.sort (regions, function (a, b) return a.position < b.position end)
		return regions
	end

	local function tracks ()
		local list = array ()
		for route in Session:get_tracks ():iter () do
			local track = route:to_track ()
			if not track:isnil () then
				table.insert (list, {
					name = track:name (),
					kind = track:data_type ():to_string (),
					regions = regions_of (track),
				})
			end
		end
		return list
	end

	-- Markers and ranges the user (or a placed plan) made; not the session's own range, loop or punch range.
	local function markers ()
		local list = array ()
		for location in Session:locations ():list ():iter () do
			if not (location:is_session_range () or location:is_auto_loop () or location:is_auto_punch ()
				or location:is_hidden () or location:is_cue_marker ()) then
				local start = location:start ():samples ()
				local marker = { name = location:name (), position = start, bar = bar_at (start) }
				if location:is_range_marker () then
					marker["end"] = location:_end ():samples ()
				end
				table.insert (list, marker)
			end
		end
		table.sort (list, function (a, b) return a.position < b.position end)
		return list
	end

	local function set_tempo (bpm, bar)
		local position = sample_at_bar (bar)
		local tm = Temporal.TempoMap.write_copy ()
		tm:set_tempo (Temporal.Tempo (bpm, bpm, 4), Temporal.timepos_t (position))
		Temporal.TempoMap.update (tm)
		return { bpm = Temporal.TempoMap.read ():tempo_at (Temporal.timepos_t (position)):to_tempo ():quarter_notes_per_minute (), bar = bar }
	end

	local function place (request)
		local dgx = load_library ()
		local plan = dgx.load_plan (request.plan)
		local position
		if request.bar ~= nil then
			position = sample_at_bar (request.bar)
		else
			position = Session:transport_sample ()
		end
		local report = dgx.place (plan, position)
		local placed = { position = report.position, bar = bar_at (report.position), tracks = array (), markers = array () }
		for _, track in ipairs (report.tracks or {}) do
			table.insert (placed.tracks, { name = track.name, kind = track.kind })
		end
		for _, marker in ipairs (report.markers or {}) do
			table.insert (placed.markers, { name = marker.name, position = marker.position, bar = bar_at (marker.position) })
		end
		return placed
	end

	local function check_bar (bar)
		assert (bar == nil or (math.type (bar) == "integer" and bar >= 0), "bar: a bar of the session, from 0")
	end

	local function run (request)
		local op = request.op
		if op == "ping" then
			return { session = Session:name (), sample_rate = Session:nominal_sample_rate (), playhead = Session:transport_sample () }
		elseif op == "place" then
			assert (type (request.plan) == "string", "plan: the path of a plan.lua")
			check_bar (request.bar)
			return place (request)
		elseif op == "tracks" then
			return { tracks = tracks () }
		elseif op == "markers" then
			return { markers = markers () }
		elseif op == "set_tempo" then
			assert (type (request.bpm) == "number" and request.bpm >= 1 and request.bpm <= 1000, "bpm: from 1 to 1000")
			check_bar (request.bar)
			return set_tempo (request.bpm, request.bar or 0)
		elseif op == "save" then
			Session:save_state ("", false, false, false, false, false)
			return { saved = Session:path () }
		end
		error ("op: no such request: " .. tostring (op), 0)
	end

	-- The request ----------------------------------------------------------------------------------------------------

	local spool = spool_folder ()
	local request_path = spool .. "/request.lua"
	if not exists (request_path) then
		print ("dgx-music bridge: no request waiting in " .. spool)
		return
	end
	local text = ARDOUR.LuaAPI.file_get_contents (request_path)
	os.remove (request_path)
	local chunk = load (text, "=request", "t", {})
	local ok, request = pcall (chunk or error)
	local reply
	if not ok or type (request) ~= "table" or type (request.id) ~= "string" then
		reply = { id = ok and type (request) == "table" and tostring (request.id) or nil, ok = false,
			error = "request: not a dgx-music bridge request" }
	else
		local done, answer = pcall (run, request)
		if done then
			reply = { id = request.id, ok = true, result = answer }
		else
			reply = { id = request.id, ok = false, error = tostring (answer) }
		end
	end
	local temporary = spool .. "/reply.json.tmp"
	local file = io.open (temporary, "w")
	if not file then
		print ("dgx-music bridge: cannot write " .. temporary)
		return
	end
	file:write (json (reply))
	file:close ()
	os.rename (temporary, spool .. "/reply.json")
	request, reply = nil, nil
	collectgarbage ()
end end
