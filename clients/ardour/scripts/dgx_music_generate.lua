ardour {
	["type"] = "EditorAction",
	name = "dgx-music: Generate audio at playhead",
	license = "Apache-2.0",
	author = "dgx-music",
	description = [[Generates audio from a prompt with the dgx-music stack (MusicGen), on a new audio track from the
bar nearest the playhead. Needs MusicGen's weights on the server.]],
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

	local answers = LuaDialog.Dialog ("Generate audio at playhead", {
		{ type = "entry", key = "prompt", title = "Prompt", default = "" },
		{ type = "number", key = "seconds", title = "Seconds", min = 1, max = 300, step = 1, digits = 0, default = 8 },
		{ type = "entry", key = "seed", title = "Seed (empty: a new one)", default = "" },
		{ type = "entry", key = "adapter", title = "Adapter (dgx-music train; empty: none)", default = "" },
	}):run ()
	if not answers then return end
	if answers.prompt == "" then
		dgx.message ("Say what to generate in the prompt.")
		return
	end
	local argv = { "generate", answers.prompt, "--seconds", string.format ("%d", answers.seconds) }
	if answers.seed ~= "" then
		table.insert (argv, "--seed")
		table.insert (argv, answers.seed)
	end
	if answers.adapter and answers.adapter ~= "" then
		table.insert (argv, "--adapter")
		table.insert (argv, answers.adapter)
	end
	dgx.act ("Generate audio", settings, argv, dgx.snap_to_bar (Session:transport_sample ()))
end end
