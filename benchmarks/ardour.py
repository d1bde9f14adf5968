"""Ardour benchmark (issue #10): from pressing "Compose at playhead" to the song's regions in the saved session,
16 bars, the stack warm. Ardour 7.3's real GUI runs under Xvfb (tests/ardour_gui.py); the action is triggered over
OSC (/access_action), its dialog filled through XTEST as a person types, OK pressed; the clock runs from OK until
the session, saved over the bridge once the action is done, holds the new MIDI regions. Each run composes a new
seed, so no run is a cache hit. Also: the bridge alone placing a plan already made (ArdourBridge.place + save).

Target: under 3 s on this machine. Run: `.venv/bin/python benchmarks/ardour.py [--runs N]`.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from ardour_gui import ArdourGui, Keyboard, SavedSession, Window, running_ardour, wait_until  # noqa: E402
from clients.ardour.plan import compose_plan  # noqa: E402
from clients.client import MusicClient, compose_request, song_options  # noqa: E402
from deploy.launcher import Stack, settings_on_free_ports  # noqa: E402

COMPOSE = "dgx-music: Compose at playhead"
DIALOG = "Compose at playhead"
PROMPT = "techno in A minor"
BARS = 16
TARGET_SECONDS = 3.0


def fill_compose_dialog(keyboard: Keyboard, dialog: Window, seed: int) -> None:
    """Prompt, bars, key (left empty), seed; the stems box left as it is; then OK."""
    keyboard.focus(dialog)
    keyboard.type(PROMPT)
    keyboard.key("Tab")  # bars
    keyboard.key("End")
    for _ in range(4):
        keyboard.key("BackSpace")
    keyboard.type(str(BARS))
    keyboard.key("Tab")  # key
    keyboard.key("Tab")  # seed
    keyboard.type(str(seed))
    for _ in range(3):  # the stems box, Cancel, OK
        keyboard.key("Tab")


def new_regions(saved: SavedSession, before: set[str]) -> list[tuple[str, int, int]]:
    return [
        (track.name, region.position, region.length)
        for track in saved.tracks
        if track.name not in before and track.kind == "midi"
        for region in track.regions
    ]


def compose_at_playhead(gui: ArdourGui, keyboard: Keyboard, slot: int, seed: int, bar: int) -> dict[str, float]:
    """One press of the action: seconds from the trigger to the dialog, and from OK to the regions saved."""
    with gui.bridge() as bridge:
        before = {track["name"] for track in bridge.tracks()}
        gui.osc("/locate", gui_sample_at_bar(gui, bar), 0)
        wait_until("playhead there", lambda: bridge.ping()["playhead"] == gui_sample_at_bar(gui, bar), 10)
    plans_before = gui.plans()

    pressed = time.perf_counter()
    gui.trigger(slot)
    dialog = wait_until("dialog", lambda: gui.dialogs(DIALOG), 30)
    shown = time.perf_counter()
    fill_compose_dialog(keyboard, dialog[0], seed)
    ok = time.perf_counter()
    keyboard.key("Return")
    wait_until("plan", lambda: gui.plans() - plans_before, 120)
    planned = time.perf_counter()
    wait_until("end of the action", lambda: not gui.dialogs(), 60)
    with gui.bridge() as bridge:
        bridge.save()
    saved_at = time.perf_counter()
    saved = gui.save()  # read back (and saved again over OSC, untimed)
    regions = new_regions(saved, before)
    assert regions, "no new MIDI regions in the saved session"
    at = saved.sample_at_bar(bar)
    assert all(position == at for _, position, _ in regions), (regions, at)
    # 16 bars at the session's tempo (the prompt names none), to a tick of musical time (12.5 samples)
    assert all(abs(position + length - saved.sample_at_bar(bar + BARS)) <= 13 for _, position, length in regions)
    return {
        "dialog": shown - pressed,
        "ok_to_saved": saved_at - ok,
        "stack": planned - ok,
        "place_and_save": saved_at - planned,
        "tracks": float(len(regions)),
    }


def gui_sample_at_bar(gui: ArdourGui, bar: int) -> int:
    with gui.bridge() as bridge:
        rate = int(bridge.ping()["sample_rate"])
    return bar * 4 * rate // 2  # the session's 120 BPM, 4/4: a bar is 2 s


def bridge_alone(gui: ArdourGui, client: MusicClient, folder: Path, runs: int) -> list[float]:
    """ArdourBridge.place of a composed plan, then save: the bridge's own share."""
    seconds = []
    for run in range(runs):
        result = client.compose(compose_request(PROMPT, options=song_options(bars=BARS, seed=1000 + run), stems=False))
        plan = compose_plan(result, folder, stems=False)
        with gui.bridge() as bridge:
            began = time.perf_counter()
            bridge.place(plan, bar=200 + run * 20)
            bridge.save()
            seconds.append(time.perf_counter() - began)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_on_free_ports(Path(tmp) / "stack", log_level="warning")
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=600) as client:
            client.compose(compose_request(PROMPT, options=song_options(bars=BARS, seed=999), stems=False))  # warm
            with running_ardour(Path(tmp) / "ardour", server=stack.gateway_target) as gui:
                keyboard = Keyboard(gui.display)
                slot = gui.action_slot(COMPOSE)
                runs = [compose_at_playhead(gui, keyboard, slot, seed, bar=run * 20) for run, seed in
                        enumerate(range(1, args.runs + 1))]  # fmt: skip
                placed = bridge_alone(gui, client, Path(tmp) / "plans", args.runs)
                keyboard.close()
    print(f"Compose at playhead, {BARS} bars, stack warm, {args.runs} runs (Ardour 7.3 GUI under Xvfb, this machine)")
    print(f"{'':<34}{'median':>8}{'min':>8}{'max':>8}")
    for label, key in (
        ("OK -> regions in saved session", "ok_to_saved"),
        ("  of which the stack (to plan)", "stack"),
        ("  of which placing + saving", "place_and_save"),
        ("trigger (OSC) -> dialog shown", "dialog"),
    ):
        values = [run[key] for run in runs]
        print(f"{label:<34}{statistics.median(values):>7.2f}s{min(values):>7.2f}s{max(values):>7.2f}s")
    print(
        f"{'bridge alone: place + save':<34}{statistics.median(placed):>7.2f}s{min(placed):>7.2f}s{max(placed):>7.2f}s"
    )
    print(f"MIDI tracks per song: {int(statistics.median(run['tracks'] for run in runs))}")
    verdict = "met" if statistics.median(run["ok_to_saved"] for run in runs) < TARGET_SECONDS else "MISSED"
    print(f"target < {TARGET_SECONDS:.0f} s (median OK -> saved): {verdict}")


if __name__ == "__main__":
    main()
