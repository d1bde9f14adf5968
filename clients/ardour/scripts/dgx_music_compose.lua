ardour {
	["type"] = "EditorAction",
	name = "dgx-music: Compose at playhead",
	license = "Apache-2.0",
	author = "dgx-music",
	description = [[Composes a song from a prompt with the dgx-music stack: one new MIDI track per generated track
(ACE Reasonable Synth), section markers at their bars, optionally the rendered stems as audio tracks, all from the
bar nearest the playhead, in the session's tempo and meter unless the prompt names its own.]],
}

function factory () return function ()
	local settings = --[[settings]] {}
	local dgx = load (ARDOUR.LuaAPI.file_get_contents (settings.library or ""), "dgx_music", "t", _ENV)
	if not dgx then
		LuaDialog.Message ("dgx-music", "Install the actions: dgx-music ardour install",
			LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
		return
	end
	dgx = dgx ()
	if not dgx.check_settings (settings) then return end

	local answers = LuaDialog.Dialog ("Compose at playhead", {
		{ type = "entry", key = "prompt", title = "Prompt", default = "" },
		{ type = "number", key = "bars", title = "Bars (0: as the prompt says)", min = 0, max = 512, step = 1, digits = 0, default = 0 },
		{ type = "entry", key = "key", title = "Key (empty: as the prompt says)", default = "" },
		{ type = "entry", key = "seed", title = "Seed (empty: 0)", default = "" },
		{ type = "checkbox", key = "stems", title = "Also the rendered stems, as audio tracks", default = false },
	}):run ()
	if not answers then return end
	if answers.prompt == "" then
		dgx.message ("Say what to compose in the prompt.")
		return
	end

	local position = dgx.snap_to_bar (Session:transport_sample ())
	local bpm, num, den = dgx.tempo_at (position)
	local argv = { "compose", answers.prompt,
		"--session-bpm", string.format ("%.4f", bpm), "--session-meter", string.format ("%d/%d", num, den) }
	if answers.bars > 0 then
		table.insert (argv, "--bars")
		table.insert (argv, string.format ("%d", answers.bars))
	end
	if answers.key ~= "" then
		table.insert (argv, "--key")
		table.insert (argv, answers.key)
	end
	if answers.seed ~= "" then
		table.insert (argv, "--seed")
		table.insert (argv, answers.seed)
	end
	table.insert (argv, answers.stems and "--stems" or "--no-stems")
	dgx.act ("Compose at playhead", settings, argv, position)
end end

function icon (params) return function (ctx, width, height, fg)
	local txt = Cairo.PangoLayout (ctx, "ArdourMono " .. math.ceil (height * .45) .. "px")
	txt:set_text ("AI\u{266B}")
	local tw, th = txt:get_pixel_size ()
	ctx:set_source_rgba (ARDOUR.LuaAPI.color_to_rgba (fg))
	ctx:move_to (.5 * (width - tw), .5 * (height - th))
	txt:show_in_cairo_context (ctx)
end end
