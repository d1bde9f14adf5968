ardour {
	["type"] = "EditorAction",
	name = "dgx-music: Transcribe selected regions",
	license = "Apache-2.0",
	author = "dgx-music",
	description = [[Transcribes each selected audio region to MIDI with the dgx-music stack (Basic Pitch): one new
MIDI track under the region's track, its notes aligned to the region's position.]],
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
	if #regions == 0 then
		dgx.message ("Select the audio region(s) to transcribe first.")
		return
	end
	for i, region in ipairs (regions) do
		local args, why = dgx.region_audio_args (region)
		if not args then
			dgx.message (why)
			return
		end
		local argv = { "transcribe", "--name", region:name () .. " MIDI" }
		for _, arg in ipairs (args) do table.insert (argv, arg) end
		local title = string.format ("Transcribe %s (%d of %d)", region:name (), i, #regions)
		if not dgx.act (title, settings, argv, region:position ():samples (), dgx.order_under (region)) then
			return
		end
	end
end end
