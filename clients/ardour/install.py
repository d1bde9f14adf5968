"""Installing the Ardour actions: the Lua scripts into each Ardour's scripts folder (7, 8 and 9 read
``$XDG_CONFIG_HOME/ardourN/scripts``), and each action bound to an action slot in ``ardourN/ui_scripts``, the file
where Ardour keeps its action scripts (gtk2_ardour/luainstance.cc), so that the toolbar shows them and OSC's
``/access_action LuaAction/script-N`` runs them without the user adding them by hand.

ui_scripts is ``<UIScripts><ActionScript lua="5.3">BASE64</ActionScript><ActionHooks/></UIScripts>``; the base64 is
the Lua chunk Ardour's script manager wrote (``scripts = {} scripts[N] = {} scripts[N]["n"] = "name" ...``), one
entry per slot N (1-32): its name, its source ("s"), its factory ("f") and its arguments ("a"). Ardour loads "f" with
``load()``, which takes source text as well as bytecode, so an installed action's factory is written as source: the
script itself, its factory returned. Ardour reads ui_scripts when a session opens and writes it whenever its actions
change, so install with Ardour closed (or restart it after).

Each action script carries the settings of its install (the dgx-music command to run, the gateway): a table literal
put in place of its ``--[[settings]]`` marker. The API key never goes there; `dgx-music ardour run` reads it from
DGXMUSIC_API_KEY or from a file only its owner can read. A manifest in each scripts folder records what the install
made, so that --uninstall removes exactly that."""

import base64
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

from clients.ardour.plan import LuaValue, lua_literal

ARDOUR_VERSIONS = (7, 8, 9)
MAX_SLOTS = 32  # MAX_LUA_ACTION_SCRIPTS in Ardour 7-9
UI_SCRIPTS = "ui_scripts"
MANIFEST = "dgx_music_install.json"
LIBRARY = "dgx_music.lua"
SETTINGS_MARKER = "--[[settings]] {}"
_ACTION_HEADER = re.compile(r"""ardour\s*\{[^}]*\["type"\]\s*=\s*"EditorAction".*?\bname\s*=\s*"([^"]+)\"""", re.S)

LuaTable = dict[str | int | float, "LuaScalar | LuaTable"]
LuaScalar = str | int | float | bool


class InstallError(Exception):
    """The install cannot go on (a ui_scripts file it cannot read, no free action slot): the message says why."""


def config_home() -> Path:
    """Where Ardour keeps its settings: $XDG_CONFIG_HOME, else ~/.config (as Glib's user config dir)."""
    configured = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(configured) if configured and Path(configured).is_absolute() else Path.home() / ".config"


def ardour_dir(version: int) -> Path:
    return config_home() / f"ardour{version}"


def api_key_file() -> Path:
    """The file `dgx-music ardour run` reads the API key from when DGXMUSIC_API_KEY is not set."""
    return config_home() / "dgx-music" / "api-key"


def packaged_scripts() -> dict[str, str]:
    """The package's Lua scripts by file name (the library, the actions and the bridge's action)."""
    folder = resources.files("clients.ardour") / "scripts"
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name)
        if entry.name.endswith(".lua")
    }


def action_name(script: str) -> str | None:
    """The name an EditorAction script gives itself in its `ardour {}` header; None for any other script."""
    match = _ACTION_HEADER.search(script)
    return match[1] if match else None


def dgx_music_command() -> list[str]:
    """How an action runs dgx-music, as an absolute path: Ardour started from a desktop menu has no PATH of the
    user's shell (nor a virtual environment's)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "dgx-music" and argv0.exists():
        return [str(argv0.resolve())]
    found = shutil.which("dgx-music")
    if found:
        return [str(Path(found).resolve())]
    return [str(Path(sys.executable).absolute()), "-m", "clients.cli"]


@dataclass(frozen=True)
class Settings:
    """What an installed action needs to reach the stack: the command (absolute), the gateway's address, the
    library's path."""

    command: tuple[str, ...]
    server: str
    library: Path

    def lua(self) -> str:
        table: dict[str, LuaValue] = {
            "command": list(self.command),
            "server": self.server,
            "library": str(self.library),
        }
        return lua_literal(table)


def with_settings(script: str, settings: Settings) -> str:
    if SETTINGS_MARKER not in script:
        return script
    return script.replace(SETTINGS_MARKER, settings.lua(), 1)


# ui_scripts: the script manager's state as Lua, read and written here --------------------------------------------


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


class _Reader:
    """Reads the statements Ardour's `serialize` writes: `path = value` with path `name[key][key]...` and value a
    number, a %q string, a boolean, nil or `{}`."""

    _TOKEN = re.compile(r"\s*(?:([A-Za-z_]\w*)|(\[)|(\])|(=)|(\{\})|(\")|(-?[0-9][0-9a-fA-FxX.+\-eE]*))", re.S)

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def statements(self) -> LuaTable:
        root: LuaTable = {}
        while self.text[self.at :].strip():
            path = self._path()
            self._expect("=")
            value = self._value()
            self._assign(root, path, value)
        return root

    def _assign(self, root: LuaTable, path: list[str | int | float], value: "LuaScalar | LuaTable | None") -> None:
        table = root
        for key in path[:-1]:
            child = table.get(key)
            if not isinstance(child, dict):
                raise InstallError(f"ui_scripts: {path} assigned before its table")
            table = child
        if value is None:
            table.pop(path[-1], None)
        else:
            table[path[-1]] = value

    def _path(self) -> list[str | int | float]:
        name = self._token()
        if name[0] != "name":
            raise InstallError(f"ui_scripts: a name expected at {self.at}")
        path: list[str | int | float] = [name[1]]
        while self._peek() == "[":
            self._token()
            key = self._value()
            if not isinstance(key, str | int | float) or isinstance(key, bool):
                raise InstallError(f"ui_scripts: a key expected at {self.at}")
            path.append(key)
            self._expect("]")
        return path

    def _peek(self) -> str:
        rest = self.text[self.at :].lstrip()
        return rest[:1]

    def _expect(self, symbol: str) -> None:
        kind, _ = self._token()
        if kind != symbol:
            raise InstallError(f"ui_scripts: {symbol!r} expected at {self.at}")

    def _token(self) -> tuple[str, str]:
        match = self._TOKEN.match(self.text, self.at)
        if match is None:
            raise InstallError(f"ui_scripts: unreadable at {self.at}")
        self.at = match.end()
        name, open_, close, equals, table, quote, number = match.groups()
        if name is not None:
            return "name", name
        if quote is not None:
            return "string", self._string()
        if number is not None:
            return "number", number
        symbol = open_ or close or equals or table
        return symbol, symbol

    def _value(self) -> "LuaScalar | LuaTable | None":
        kind, text = self._token()
        if kind == "string":
            return text
        if kind == "number":
            return float(text) if any(c in text for c in ".eEn") else int(text, 0)
        if kind == "{}":
            return {}
        if kind == "name" and text in ("true", "false"):
            return text == "true"
        if kind == "name" and text == "nil":
            return None
        raise InstallError(f"ui_scripts: a value expected at {self.at}")

    def _string(self) -> str:
        """The rest of a %q string (the opening quote read): Lua 5.3 escapes \\", \\\\, \\<newline>, \\r, \\0 and
        \\ddd; every other byte is itself (the text is read as Latin-1, one character a byte)."""
        out: list[str] = []
        text = self.text
        at = self.at
        while True:
            char = text[at]
            if char == '"':
                self.at = at + 1
                return "".join(out)
            if char != "\\":
                out.append(char)
                at += 1
                continue
            escaped = text[at + 1]
            if escaped.isdigit():
                digits = re.match(r"\d{1,3}", text[at + 1 : at + 4])
                assert digits is not None
                out.append(chr(int(digits[0])))
                at += 1 + len(digits[0])
            else:
                out.append(_ESCAPES.get(escaped, escaped))
                at += 2


def _lua_q(value: str) -> str:
    """A Lua string literal of Latin-1 text (bytes), as %q would read back."""
    return lua_string_bytes(value.encode("latin-1"))


def lua_string_bytes(data: bytes) -> str:
    out = []
    for byte in data:
        if 0x20 <= byte < 0x7F and byte not in (0x22, 0x5C):
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _serialize(name: str, value: "LuaScalar | LuaTable") -> str:
    """As Ardour's script manager serializes: `name = {}` then each field, or `name = value`."""
    if isinstance(value, dict):
        parts = [f"{name} = {{}}"]
        for key, item in value.items():
            key_text = str(key) if isinstance(key, int | float) else _lua_q(key)
            parts.append(_serialize(f"{name}[{key_text}]", item))
        return " ".join(parts)
    if isinstance(value, bool):
        return f"{name} = {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"{name} = {value!r}"
    return f"{name} = {_lua_q(value)}"


def read_ui_scripts(path: Path) -> LuaTable:
    """The slots of a ui_scripts file: {slot: {"n": name, "s": source, "f": factory, "a": args, ...}}."""
    if not path.exists():
        return {}
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise InstallError(f"{path} is no ui_scripts file Ardour wrote ({exc}): move it away, install again") from exc
    node = root.find("ActionScript")
    if node is None or not (node.text or "").strip():
        return {}
    text = base64.b64decode(node.text or "").decode("latin-1")
    scripts = _Reader(text).statements().get("scripts", {})
    if not isinstance(scripts, dict):
        raise InstallError(f"{path}: its scripts are no table")
    return scripts


def write_ui_scripts(path: Path, scripts: LuaTable) -> None:
    """Writes the slots back, keeping the file's hooks (ActionHooks) as they were."""
    hooks = ElementTree.Element("ActionHooks")
    if path.exists():
        with_hooks = ElementTree.parse(path).getroot().find("ActionHooks")
        if with_hooks is not None:
            hooks = with_hooks
    root = ElementTree.Element("UIScripts")
    action = ElementTree.SubElement(root, "ActionScript", {"lua": "5.3"})
    action.text = base64.b64encode(_serialize("scripts", scripts).encode("latin-1")).decode("ascii")
    root.append(hooks)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".dgx-music")
    ElementTree.ElementTree(root).write(temporary, encoding="UTF-8", xml_declaration=True)
    temporary.replace(path)


def action_entry(name: str, script: str, origin: Path) -> LuaTable:
    """A slot as Ardour's script manager keeps one. The factory is source text: `load` in Ardour 7-9 takes text
    as well as bytecode, and the script's `factory` and `icon` are made locals of that chunk, not globals of
    Ardour's shared action interpreter."""
    factory = f"local ardour = function () end\nlocal factory, icon\n{script}\nreturn factory (...)\n"
    args: LuaTable = {"x-script-origin": _as_bytes(str(origin))}
    return {"n": _as_bytes(name), "s": _as_bytes(script), "f": _as_bytes(factory), "a": args}


def _as_bytes(text: str) -> str:
    """Text as ui_scripts holds it: its UTF-8 bytes, one Latin-1 character each."""
    return text.encode().decode("latin-1")


# Installing ------------------------------------------------------------------------------------------------------


@dataclass
class Installed:
    """What an install made in one Ardour's folder (the manifest)."""

    version: int
    files: list[str] = field(default_factory=list)
    slots: dict[str, int] = field(default_factory=dict)
    created_ui_scripts: bool = False

    def save(self, path: Path) -> None:
        document = {
            "version": self.version,
            "files": self.files,
            "slots": self.slots,
            "created_ui_scripts": self.created_ui_scripts,
        }
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, version: int) -> "Installed":
        if not path.exists():
            return cls(version)
        document = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            version,
            [str(name) for name in document.get("files", [])],
            {str(name): int(slot) for name, slot in document.get("slots", {}).items()},
            bool(document.get("created_ui_scripts", False)),
        )


def _free_slots(scripts: LuaTable, wanted: list[str], earlier: dict[str, int]) -> dict[str, int]:
    """A slot for each action: the one it had (by the manifest, or a slot holding its name), else the lowest free."""
    taken = {int(slot): str(entry.get("n", "")) for slot, entry in scripts.items() if isinstance(entry, dict)}
    chosen: dict[str, int] = {}
    for name in wanted:
        slot = earlier.get(name)
        if slot is None or taken.get(slot, name) != name:
            slot = next((s for s, held in taken.items() if held == name), None)
        if slot is not None:
            chosen[name] = slot
            taken[slot] = name
    for name in wanted:
        if name in chosen:
            continue
        free = next((slot for slot in range(1, MAX_SLOTS + 1) if slot not in taken), None)
        if free is None:
            raise InstallError(f"all {MAX_SLOTS} of Ardour's action slots are taken: free one for {name!r}")
        chosen[name] = free
        taken[free] = name
    return chosen


def install(version: int, command: Sequence[str], server: str) -> Installed:
    """Installs the scripts and binds the actions for one Ardour version; again, it updates them in place."""
    folder = ardour_dir(version)
    scripts_dir = folder / "scripts"
    scripts_dir.mkdir(parents=True, exist_ok=True)
    manifest = scripts_dir / MANIFEST
    earlier = Installed.load(manifest, version)
    settings = Settings(tuple(command), server, scripts_dir / LIBRARY)
    installed = Installed(version, created_ui_scripts=earlier.created_ui_scripts)
    actions: dict[str, tuple[str, Path]] = {}
    for name, source in packaged_scripts().items():
        text = with_settings(source, settings)
        path = scripts_dir / name
        path.write_text(text, encoding="utf-8")
        installed.files.append(name)
        title = action_name(text)
        if title is not None:
            actions[title] = (text, path)
    for stale in set(earlier.files) - set(installed.files):
        (scripts_dir / stale).unlink(missing_ok=True)
    ui_scripts = folder / UI_SCRIPTS
    if not ui_scripts.exists() and not earlier.created_ui_scripts:
        installed.created_ui_scripts = True
    scripts = read_ui_scripts(ui_scripts)
    for name, slot in earlier.slots.items():
        if name not in actions and _holds(scripts, slot, name):
            del scripts[slot]
    installed.slots = _free_slots(scripts, list(actions), earlier.slots)
    for name, slot in installed.slots.items():
        text, path = actions[name]
        scripts[slot] = action_entry(name, text, path)
    write_ui_scripts(ui_scripts, dict(sorted(scripts.items(), key=lambda item: float(item[0]))))
    installed.save(manifest)
    return installed


def uninstall(version: int) -> Installed | None:
    """Removes what the install recorded for one Ardour version (its files, its slots, a ui_scripts it created and
    nothing else holds); None when nothing was installed there."""
    folder = ardour_dir(version)
    manifest = folder / "scripts" / MANIFEST
    if not manifest.exists():
        return None
    earlier = Installed.load(manifest, version)
    for name in earlier.files:
        (folder / "scripts" / name).unlink(missing_ok=True)
    ui_scripts = folder / UI_SCRIPTS
    if ui_scripts.exists():
        scripts = read_ui_scripts(ui_scripts)
        for name, slot in earlier.slots.items():
            if _holds(scripts, slot, name):
                del scripts[slot]
        if not scripts and earlier.created_ui_scripts:
            ui_scripts.unlink()
        else:
            write_ui_scripts(ui_scripts, scripts)
    manifest.unlink()
    for emptied in (folder / "scripts", folder):
        if emptied.exists() and not any(emptied.iterdir()):
            emptied.rmdir()
    return earlier


def _holds(scripts: LuaTable, slot: int, name: str) -> bool:
    entry = scripts.get(slot)
    return isinstance(entry, dict) and entry.get("n") == name


def save_api_key(key: str) -> Path:
    """Writes the API key where `dgx-music ardour run` finds it, readable by its owner only."""
    path = api_key_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(key.strip() + "\n")
    path.chmod(0o600)
    return path


def read_api_key() -> str | None:
    """DGXMUSIC_API_KEY, else the key file; a key file others can read is refused (InstallError)."""
    key = os.environ.get("DGXMUSIC_API_KEY")
    if key:
        return key
    path = api_key_file()
    if not path.exists():
        return None
    if path.stat().st_mode & 0o077:
        raise InstallError(f"{path} can be read by others: chmod 600 it")
    return path.read_text(encoding="utf-8").strip() or None
