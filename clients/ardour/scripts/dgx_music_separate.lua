ardour {
	["type"] = "EditorAction",
	name = "dgx-music: Separate selected region",
	license = "Apache-2.0",
	author = "dgx-music",
	description = [[Separates the selected audio region into stems with the dgx-music stack (demucs): one new audio
track per stem, aligned to the region's position.]],
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
		dgx.message ("Select one audio region to separate.")
		return
	end
	local region = regions[1]
	local args, why = dgx.region_audio_args (region)
	if not args then
		dgx.message (why)
		return
	end
	local argv = { "separate", "--name", region:name () }
	for _, arg in ipairs (args) do table.insert (argv, arg) end
	dgx.act ("Separate " .. region:name (), settings, argv, region:position ():samples ())
end end
