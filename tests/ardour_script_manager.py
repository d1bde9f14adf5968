"""Ardour's own action-script manager, the Lua that gtk2_ardour/luainstance.cc (Ardour 7.3, LuaInstance::init) runs
in its GUI's interpreter: `restore` reads the state kept in ui_scripts, `get` and `call` are what the editor's action
slots (LuaAction/script-N) use. Copied string for string from Ardour's source, so that headless Ardour can load the
ui_scripts file `dgx-music ardour install` writes exactly as the GUI does. (Ardour 8 and 9 add one step to
`restore`: a slot whose x-script-origin file still exists is read again from that file.)"""

import base64
from pathlib import Path
from xml.etree import ElementTree

from clients.ardour.plan import lua_string

SCRIPT_MANAGER = (
    "function ScriptManager ()"
    "  local self = { scripts = {}, instances = {}, icons = {} }"
    ""
    "  local remove = function (id)"
    "   self.scripts[id] = nil"
    "   self.instances[id] = nil"
    "   self.icons[id] = nil"
    "  end"
    ""
    "  local addinternal = function (i, n, s, f, c, a)"
    "   assert(type(i) == 'number', 'id must be numeric')"
    "   assert(type(n) == 'string', 'Name must be string')"
    "   assert(type(s) == 'string', 'Script must be string')"
    "   assert(type(f) == 'function', 'Factory is a not a function')"
    "   assert(type(a) == 'table' or type(a) == 'nil', 'Given argument is invalid')"
    "   self.scripts[i] = { ['n'] = n, ['s'] = s, ['f'] = f, ['a'] = a, ['c'] = c }"
    "   local env = _ENV; env.f = nil"
    "   self.instances[i] = load (string.dump(f, true), nil, nil, env)(a)"
    "   if type(c) == 'function' then"
    "     self.icons[i] = load (string.dump(c, true), nil, nil, env)(a)"
    "   else"
    "     self.icons[i] = nil"
    "   end"
    "  end"
    ""
    "  local call = function (id)"
    "   if type(self.instances[id]) == 'function' then"
    "     local status, err = pcall (self.instances[id])"
    "     if not status then"
    "       print ('action \"'.. id .. '\": ', err)"
    "       remove (id)"
    "     end"
    "   end"
    "   collectgarbage()"
    "  end"
    ""
    "  local icon = function (id, ...)"
    "   if type(self.icons[id]) == 'function' then"
    "     pcall (self.icons[id], ...)"
    "   end"
    "   collectgarbage()"
    "  end"
    ""
    "  local add = function (i, n, s, b, c, a)"
    "   assert(type(b) == 'string', 'ByteCode must be string')"
    "   f = nil load (b)()"
    "   icn = nil load (c)()"
    "   assert(type(f) == 'string', 'Assigned ByteCode must be string')"
    "   addinternal (i, n, s, load(f), type(icn) ~= \"string\" or icn == '' or load(icn), a)"
    "  end"
    ""
    "  local get = function (id)"
    "   if type(self.scripts[id]) == 'table' then"
    "    return { ['name'] = self.scripts[id]['n'],"
    "             ['script'] = self.scripts[id]['s'],"
    "             ['icon'] = type(self.scripts[id]['c']) == 'function',"
    "             ['args'] = self.scripts[id]['a'] }"
    "   end"
    "   return nil"
    "  end"
    ""
    "  local function basic_serialize (o)"
    '    if type(o) == "number" then'
    "     return tostring(o)"
    "    else"
    '     return string.format("%q", o)'
    "    end"
    "  end"
    ""
    "  local function serialize (name, value)"
    "   local rv = name .. ' = '"
    '   if type(value) == "number" or type(value) == "string" or type(value) == "nil" then'
    "    return rv .. basic_serialize(value) .. ' '"
    '   elseif type(value) == "table" then'
    "    rv = rv .. '{} '"
    "    for k,v in pairs(value) do"
    '     local fieldname = string.format("%s[%s]", name, basic_serialize(k))'
    "     rv = rv .. serialize(fieldname, v) .. ' '"
    "    end"
    "    return rv;"
    '   elseif type(value) == "function" then'
    '     return rv .. string.format("%q", string.dump(value, true))'
    '   elseif type(value) == "boolean" then'
    "     return rv .. tostring (value)"
    "   else"
    "    error('cannot save a ' .. type(value))"
    "   end"
    "  end"
    ""
    ""
    "  local save = function ()"
    "   return (serialize('scripts', self.scripts))"
    "  end"
    ""
    "  local clear = function ()"
    "   self.scripts = {}"
    "   self.instances = {}"
    "   self.icons = {}"
    "   collectgarbage()"
    "  end"
    ""
    "  local restore = function (state)"
    "   clear()"
    "   load (state)()"
    "   for i, s in pairs (scripts) do"
    "    addinternal (i, s['n'], s['s'], load(s['f']), "
    "type (s['c']) ~= \"string\" or s['c'] == '' or load (s['c']), s['a'])"
    "   end"
    "   collectgarbage()"
    "  end"
    ""
    " return { call = call, add = add, remove = remove, get = get,"
    "          restore = restore, save = save, clear = clear, icon = icon}"
    " end"
    " "
    " manager = ScriptManager ()"
    " ScriptManager = nil"
)


def ui_scripts_state(ui_scripts: Path) -> bytes:
    """The Lua state inside a ui_scripts file, as LuaInstance::set_state decodes it."""
    node = ElementTree.parse(ui_scripts).getroot().find("ActionScript")
    assert node is not None
    assert node.text
    return base64.b64decode(node.text)


def run_action_lua(state_file: Path, slot: int, answers: str = "nil") -> str:
    """Lua for ardour_headless.run_lua: Ardour's script manager restores the state in `state_file` and calls the
    action in `slot`, as the editor's LuaAction/script-N does, with LuaDialog (the GUI's) standing in: each dialog
    answers `answers` (a Lua expression; nil is Cancel), messages and progress are reported, not shown."""
    return f"""
{SCRIPT_MANAGER}
local actions = manager
manager = nil
LuaDialog = {{
	MessageType = {{ Info = 0, Warning = 1, Question = 2, Error = 3 }},
	ButtonType = {{ OK = 0, Close = 1, Cancel = 2, Yes_No = 3, OK_Cancel = 4 }},
	Dialog = function (title, fields)
		report ("dialog", title, #fields)
		return {{ run = function () return {answers} end }}
	end,
	Message = function (title, text)
		report ("message", (string.gsub (text, "\\n", " ")))
		return {{ run = function () end }}
	end,
	ProgressWindow = function (title, cancellable)
		report ("progress-window", title)
		return {{
			progress = function (_, fraction, text) report ("progress", fraction, text) return false end,
			done = function () report ("progress-done") end,
			canceled = function () return false end,
		}}
	end,
}}
actions.restore (ARDOUR.LuaAPI.file_get_contents ({lua_string(str(state_file))}))
for slot = 1, 32 do
	local action = actions.get (slot)
	if action then
		report ("slot", slot, action.name, action.args["x-script-origin"])
	end
end
actions.call ({slot})
actions.clear ()
actions = nil
"""
