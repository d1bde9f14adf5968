ardour {
	["type"] = "EditorAction",
	name = "dgx-music: Continue selected region",
	license = "Apache-2.0",
	author = "dgx-music",
	description = [[Generates what follows the selected audio region with the dgx-music stack (MusicGen, the
region as its melody), on a new audio track from the region's end. Needs MusicGen's weights on the server.]],
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

	local regions = dgx.selected_regions ()
	if #regions ~= 1 then
		dgx.message ("Select the one audio region to continue.")
		return
	end
	local region = regions[1]
	local args, why = dgx.region_audio_args (region)
	if not args then
		dgx.message (why)
		return
	end
	local answers = LuaDialog.Dialog ("Continue " .. region:name (), {
		{ type = "entry", key = "prompt", title = "Prompt (optional)", default = "" },
		{ type = "number", key = "seconds", title = "Seconds", min = 1, max = 300, step = 1, digits = 0, default = 8 },
	}):run ()
	if not answers then return end
	local argv = { "continue", answers.prompt, "--seconds", string.format ("%d", answers.seconds),
		"--name", region:name () .. " continued" }
	for _, arg in ipairs (args) do table.insert (argv, arg) end
	local stop = region:position ():samples () + region:length ():samples ()
	dgx.act ("Continue " .. region:name (), settings, argv, stop)
end end
