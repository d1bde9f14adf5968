"""`dgx-music ardour install`: the scripts land in each Ardour's scripts folder ($XDG_CONFIG_HOME/ardour7|8|9), each
action bound to a LuaAction/script-N slot in ui_scripts that Ardour's own script manager (run in headless Ardour
7.3) restores and calls; again, nothing changes; a user's own actions keep their slots; --uninstall removes exactly
what the install made; the API key is never written into a script."""

import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from ardour_headless import needs_ardour, run_lua
from ardour_script_manager import run_action_lua, ui_scripts_state
from clients.ardour import install as installer
from clients.ardour.cli import ardour

ACTIONS = {
    "dgx-music: Compose at playhead",
    "dgx-music: Transcribe selected regions",
    "dgx-music: Separate selected region",
    "dgx-music: Generate audio at playhead",
    "dgx-music: Continue selected region",
}
SECRET = "dgx_test_secret_key_0123456789"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("DGXMUSIC_API_KEY", SECRET)
    return home


def install(*args: str) -> str:
    done = CliRunner().invoke(ardour, ["install", *args])
    assert done.exit_code == 0, done.output
    return done.output


def slots_printed(output: str) -> dict[str, int]:
    return {name: int(slot) for slot, name in re.findall(r"LuaAction/script-(\d+)  (.+)", output)}


def every_file(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_the_scripts_land_in_each_ardours_folder_with_the_command_and_gateway_but_no_key(config_home: Path) -> None:
    output = install("--server", "127.0.0.1:50099")

    for version in (7, 8, 9):
        scripts = config_home / f"ardour{version}" / "scripts"
        assert (scripts / "dgx_music.lua").exists()
        compose = (scripts / "dgx_music_compose.lua").read_text()
        command = installer.dgx_music_command()
        assert f'command = {{"{command[0]}"' in compose
        assert Path(command[0]).is_absolute()
        assert 'server = "127.0.0.1:50099"' in compose
        assert f'library = "{scripts / "dgx_music.lua"}"' in compose
        for path in (config_home / f"ardour{version}").rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
    printed = slots_printed(output)
    assert set(printed) >= ACTIONS
    assert len(set(printed.values())) == len(printed)


def test_installing_again_changes_nothing(config_home: Path) -> None:
    first = install()
    before = every_file(config_home)
    second = install()
    assert every_file(config_home) == before
    assert slots_printed(second) == slots_printed(first)


def test_a_users_own_actions_keep_their_slots_and_uninstall_gives_them_back(config_home: Path) -> None:
    ui_scripts = config_home / "ardour7" / "ui_scripts"
    users = {1: {"n": "Mixer Screenshot", "s": "-- mine", "f": "return function () end", "a": {}}, 3: {"n": "Mine"}}
    installer.write_ui_scripts(ui_scripts, users)  # type: ignore[arg-type]
    original = ui_scripts.read_bytes()

    slots = slots_printed(install("--ardour", "7"))
    assert 1 not in slots.values()
    assert 3 not in slots.values()
    bound = installer.read_ui_scripts(ui_scripts)
    assert bound[1] == users[1]
    assert bound[3] == users[3]
    assert {bound[slot]["n"] for slot in slots.values()} == set(slots)  # type: ignore[index]

    assert "removed" in CliRunner().invoke(ardour, ["install", "--uninstall", "--ardour", "7"]).output
    assert installer.read_ui_scripts(ui_scripts) == users
    assert ui_scripts.read_bytes() == original
    assert sorted(path.name for path in (config_home / "ardour7" / "scripts").glob("*")) == []


def test_uninstall_removes_exactly_what_the_install_made(config_home: Path) -> None:
    (config_home / "ardour8" / "scripts").mkdir(parents=True)
    mine = config_home / "ardour8" / "scripts" / "my_own.lua"
    mine.write_text("-- the user's")
    install()
    done = CliRunner().invoke(ardour, ["install", "--uninstall"])
    assert done.exit_code == 0, done.output
    assert every_file(config_home) == {mine: b"-- the user's"}
    assert not (config_home / "ardour7").exists()
    assert "nothing installed" in CliRunner().invoke(ardour, ["install", "--uninstall"]).output


def test_the_api_key_is_kept_only_for_its_owner(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = install("--ardour", "9", "--save-api-key")
    key_file = installer.api_key_file()
    assert str(key_file) in output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    monkeypatch.delenv("DGXMUSIC_API_KEY")
    assert installer.read_api_key() == SECRET
    key_file.chmod(0o644)
    with pytest.raises(installer.InstallError, match="chmod 600"):
        installer.read_api_key()


@needs_ardour
def test_ardours_own_script_manager_restores_the_slots_and_runs_an_action(config_home: Path, tmp_path: Path) -> None:
    slots = slots_printed(install("--ardour", "7"))
    state = tmp_path / "state.lua"
    state.write_bytes(ui_scripts_state(config_home / "ardour7" / "ui_scripts"))

    compose = slots["dgx-music: Compose at playhead"]
    run = run_lua(run_action_lua(state, compose), tmp_path)

    assert run.closed, run.output
    restored = {name: (int(slot), origin) for slot, name, origin in run.rows("slot")}
    scripts = config_home / "ardour7" / "scripts"
    assert {name: slot for name, (slot, _) in restored.items()} == slots
    assert restored["dgx-music: Compose at playhead"][1] == str(scripts / "dgx_music_compose.lua")
    # The action ran: it loaded the library and asked its dialog (answered Cancel), with no error.
    assert run.rows("dialog") == [["Compose at playhead", "5"]]
    assert 'action "' not in run.output
