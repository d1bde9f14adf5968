"""Takes the README's screenshots of the dgx-music actions in Ardour 7.3 (docs/ardour/*.png): each action's dialog
and its result, in Ardour's real GUI under Xvfb (tests/ardour_gui.py), against a stack of its own (the tests'
stand-in weights: a random HTDemucs, MusicGen's tiny debug model, so the separated and generated audio is noise).
The dialogs are typed into through XTEST, as a person types; region actions act on a region selected with Ardour's
own Select All Objects, sent over OSC.

Run: `.venv/bin/python docs/ardour/screenshots.py` (a minute or two)."""

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT / "tests"))
sys.path.insert(0, str(PROJECT_ROOT))

from ardour_gui import ArdourGui, Keyboard, Window, running_ardour, wait_until  # noqa: E402
from clients.ardour.plan import AudioPart, ImportPlan, new_plan_folder  # noqa: E402
from clients.client import MusicClient, compose_request, song_options  # noqa: E402
from deploy.launcher import Stack, settings_on_free_ports  # noqa: E402
from separator import write_random_htdemucs  # noqa: E402

OUT = Path(__file__).resolve().parent
PROMPT = "techno with an intro, a build and a drop in A minor"


@contextmanager
def ardour(root: Path, name: str, server: str) -> Iterator[tuple[ArdourGui, Keyboard]]:
    with running_ardour(root / name, name=name, server=server) as gui:
        keyboard = Keyboard(gui.display)
        try:
            yield gui, keyboard
        finally:
            keyboard.close()


def shoot(gui: ArdourGui, name: str) -> None:
    time.sleep(0.5)  # the editor redraws
    path = gui.screenshot(OUT / f"{name}.png", editor_only=True)
    print(f"wrote {path.relative_to(PROJECT_ROOT)}")


def open_dialog(gui: ArdourGui, action: str, title: str) -> list[Window]:
    gui.trigger(gui.action_slot(action))
    return wait_until(f"{title} dialog", lambda: gui.dialogs(title), 30)


def clear_and_type(keyboard: Keyboard, text: str) -> None:
    keyboard.key("End")
    for _ in range(6):
        keyboard.key("BackSpace")
    keyboard.type(text)


def finish(gui: ArdourGui, keyboard: Keyboard, plans_before: set[Path], tabs_to_ok: int) -> None:
    """OK (`tabs_to_ok` tabs away), then until the action has placed its result, zoomed to the session."""
    for _ in range(tabs_to_ok):
        keyboard.key("Tab")
    keyboard.key("Return")
    gui.wait_for_action(plans_before)
    gui.osc("/access_action", "Editor/zoom-to-session")


def compose(root: Path, server: str) -> None:
    with ardour(root, "compose", server) as (gui, keyboard):
        plans = gui.plans()
        [dialog] = open_dialog(gui, "dgx-music: Compose at playhead", "Compose at playhead")
        keyboard.focus(dialog)
        keyboard.type(PROMPT)
        keyboard.key("Tab")
        clear_and_type(keyboard, "16")
        keyboard.key("Tab")  # key: as the prompt says
        keyboard.key("Tab")
        keyboard.type("7")  # seed
        shoot(gui, "compose-dialog")
        finish(gui, keyboard, plans, tabs_to_ok=3)
        shoot(gui, "compose-result")


def generate(root: Path, server: str) -> None:
    with ardour(root, "generate", server) as (gui, keyboard):
        plans = gui.plans()
        [dialog] = open_dialog(gui, "dgx-music: Generate audio at playhead", "Generate audio at playhead")
        keyboard.focus(dialog)
        keyboard.type("warm analog pad, slow attack")
        keyboard.key("Tab")
        clear_and_type(keyboard, "4")
        keyboard.key("Tab")
        keyboard.type("3")  # seed
        shoot(gui, "generate-dialog")
        finish(gui, keyboard, plans, tabs_to_ok=2)
        shoot(gui, "generate-result")


def a_take(client: MusicClient, folder: Path) -> Path:
    """An audio take to act on: the lead stem of a composed song."""
    result = client.compose(compose_request("synthwave lead, 110 BPM", options=song_options(bars=4, seed=11)))
    name = next(name for name in result.stems if "drum" not in name.lower())
    return result.write_stream(name, folder / "take.wav")


@contextmanager
def with_take(root: Path, name: str, server: str, take: Path) -> Iterator[tuple[ArdourGui, Keyboard]]:
    """Ardour with the take on an audio track at bar 2 (placed through the bridge), the take selected."""
    with ardour(root, name, server) as (gui, keyboard):
        folder = new_plan_folder(root / f"{name}-plan", "generate", "take")
        plan = ImportPlan("generate", "take", timebase="seconds", audio=[AudioPart("guitar take", take)], folder=folder)
        with gui.bridge() as bridge:
            bridge.place(plan, bar=1)
        time.sleep(1.0)  # the editor makes the region's view when idle: selecting it before would miss it
        gui.osc("/access_action", "Editor/select-all-objects")
        time.sleep(0.5)
        yield gui, keyboard


def region_actions(root: Path, server: str, take: Path) -> None:
    with with_take(root, "transcribe", server, take) as (gui, _):
        plans = gui.plans()
        gui.trigger(gui.action_slot("dgx-music: Transcribe selected regions"))
        gui.wait_for_action(plans)
        gui.osc("/access_action", "Editor/zoom-to-session")
        shoot(gui, "transcribe-result")
    with with_take(root, "separate", server, take) as (gui, _):
        plans = gui.plans()
        gui.trigger(gui.action_slot("dgx-music: Separate selected region"))
        gui.wait_for_action(plans)
        gui.osc("/access_action", "Editor/zoom-to-session")
        shoot(gui, "separate-result")
    with with_take(root, "continue", server, take) as (gui, keyboard):
        plans = gui.plans()
        gui.trigger(gui.action_slot("dgx-music: Continue selected region"))
        [dialog] = wait_until("Continue dialog", lambda: gui.dialogs(), 30)
        keyboard.focus(dialog)
        keyboard.type("keep the groove, add strings")
        keyboard.key("Tab")
        clear_and_type(keyboard, "4")
        shoot(gui, "continue-dialog")
        finish(gui, keyboard, plans, tabs_to_ok=2)
        shoot(gui, "continue-result")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_random_htdemucs(root / "weights", "htdemucs")
        settings = settings_on_free_ports(
            root / "stack",
            log_level="warning",
            weights_dir=root / "weights",
            demucs_model="htdemucs",
            musicgen_model="debug-melody",
        )
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=600) as client:
            server = stack.gateway_target
            compose(root, server)
            generate(root, server)
            region_actions(root, server, a_take(client, root))


if __name__ == "__main__":
    main()
