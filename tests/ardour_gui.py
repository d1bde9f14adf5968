"""Ardour 7's real GUI for the tests, benchmarks and screenshots: a fresh session under Xvfb, in a private HOME, with
its OSC surface on and the dgx-music actions installed; helpers to trigger actions over OSC, save the session over
OSC and read the saved session file back.

How the pieces are set up (Ardour 7.3, read from its source):
- the engine: the "None (Dummy)" backend, which Ardour hides unless `hide-dummy-backend` is off, autostarted
  (`try-autostart-engine`) from an AudioMIDISetup state in the user config file, so no dialog asks for it;
  `.a7` in the config folder says the first-run wizard has been seen;
- OSC: the session's `<ControlProtocols>` has "Open Sound Control (OSC)" active, on the config's `osc-port`
  (a free one); Ardour writes its server's URL into an `osc_url` file it finds in its config folder;
- the session has a master bus (`ardour7-new_session`): Ardour 7.3's OSC surface crashes on the first message to a
  session without one;
- an action bound to action button N runs on `/access_action LuaAction/script-N`.

Ardour runs under `timeout`, in a process group of its own that is killed at the end: it can hang on exit."""

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import mido
from pythonosc.udp_client import SimpleUDPClient

from clients.ardour.bridge import ArdourBridge, installed_bridge_slot
from clients.ardour.install import MANIFEST, Installed
from clients.errors import ArdourError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ARDOUR = "ardour"
NEW_SESSION = "ardour7-new_session"
SAMPLE_RATE = 48000
SCREEN = "1600x1000x24"
# Ardour's timeline unit in the session file: superclock ticks a second (TempoMap superclocks-per-second).
SUPERCLOCKS_PER_SECOND = 282240000
TICKS_PER_BEAT = 1920
# Longest an Ardour under test may live, whatever happens to the test.
LIFETIME_SECONDS = 900
T = TypeVar("T")


def ardour_missing() -> str | None:
    """Why the GUI tests cannot run here (None: they can)."""
    for tool in (ARDOUR, NEW_SESSION, "Xvfb", "import", "timeout"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make test installs ardour, xvfb and imagemagick)"
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _user_config(osc_port: int) -> str:
    """Ardour's user config file: the Dummy engine autostarted, OSC on `osc_port`."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Ardour>
  <Config>
    <Option name="try-autostart-engine" value="1"/>
    <Option name="hide-dummy-backend" value="0"/>
    <Option name="osc-port" value="{osc_port}"/>
    <Option name="check-announcements" value="0"/>
  </Config>
  <Extra>
    <AudioMIDISetup>
      <EngineStates>
        <State backend="None (Dummy)" driver="Normal Speed" device="Silence" input-device="" output-device=""
          sample-rate="{SAMPLE_RATE}" buffer-size="1024" n-periods="0" input-latency="0" output-latency="0"
          lm-input="" lm-output="" active="1" use-buffered-io="0" midi-option="" lru="{int(time.time())}">
          <MIDIDevices/>
        </State>
      </EngineStates>
    </AudioMIDISetup>
  </Extra>
</Ardour>
"""


def new_session(folder: Path, name: str, env: dict[str, str]) -> Path:
    """A fresh session with a master bus and the OSC surface on; answers its .ardour file."""
    subprocess.run(
        ["timeout", "60", NEW_SESSION, "-s", str(SAMPLE_RATE), str(folder), name],
        env=env,
        check=True,
        capture_output=True,
    )
    session_file = folder / f"{name}.ardour"
    tree = ET.parse(session_file)
    for protocol in tree.getroot().iter("Protocol"):
        if protocol.get("name") == "Open Sound Control (OSC)":
            protocol.set("active", "1")
    tree.write(session_file, encoding="UTF-8", xml_declaration=True)
    return session_file


def install_actions(env: dict[str, str], server: str) -> None:
    """`dgx-music ardour install --ardour 7 --server SERVER` into the private config folder, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "clients.cli", "ardour", "install", "--ardour", "7", "--server", server],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dgx-music ardour install failed ({done.returncode}):\n{done.stdout}{done.stderr}")


# The saved session file --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TempoPoint:
    quarters: float  # where, in quarter notes from the session's start
    superclock: int  # where, in superclock ticks
    quarters_per_minute: float


@dataclass(frozen=True)
class SavedRegion:
    name: str
    position: int  # samples
    length: int  # samples
    source_kind: str  # "midi" or "audio"
    source_name: str  # its file's name in the session's interchange folder


@dataclass(frozen=True)
class SavedTrack:
    name: str
    kind: str  # "midi" or "audio"
    regions: tuple[SavedRegion, ...]
    plugins: tuple[str, ...]


@dataclass(frozen=True)
class SavedMarker:
    name: str
    start: int  # samples
    end: int
    flags: str


@dataclass
class SavedSession:
    """What a saved .ardour file holds, times in samples."""

    sample_rate: int
    tempos: list[TempoPoint] = field(default_factory=list)
    meters: list[tuple[int, int]] = field(default_factory=list)
    tracks: list[SavedTrack] = field(default_factory=list)
    markers: list[SavedMarker] = field(default_factory=list)

    def track(self, name: str) -> SavedTrack:
        found = [track for track in self.tracks if track.name == name]
        assert found, f"no track {name!r} in {[track.name for track in self.tracks]}"
        return found[0]

    def marker(self, name: str) -> SavedMarker:
        found = [marker for marker in self.markers if marker.name == name]
        assert found, f"no marker {name!r} in {[marker.name for marker in self.markers]}"
        return found[0]

    def sample_at_quarters(self, quarters: float) -> int:
        """Where `quarters` quarter notes from the start fall, by the saved tempo map (constant tempos)."""
        point = max((p for p in self.tempos if p.quarters <= quarters), key=lambda p: p.quarters)
        superclock = point.superclock + (quarters - point.quarters) * 60 / point.quarters_per_minute * (
            SUPERCLOCKS_PER_SECOND
        )
        return round(superclock * self.sample_rate / SUPERCLOCKS_PER_SECOND)

    def sample_at_bar(self, bar: int, beats_per_bar: float = 4.0) -> int:
        """Bar `bar` (from 0) in a session of one meter of `beats_per_bar` quarter notes."""
        return self.sample_at_quarters(bar * beats_per_bar)

    def to_samples(self, value: str) -> int:
        """A saved timeline value ("a<superclocks>" or "b<ticks>", maybe "<distance>@<position>") in samples."""
        distance, _, position = value.partition("@")
        if distance.startswith("b"):
            ticks = int(distance[1:])
            if position:
                start = self.to_samples(position)
                start_q = self._quarters_at_sample(start)
                return self.sample_at_quarters(start_q + ticks / TICKS_PER_BEAT) - start
            return self.sample_at_quarters(ticks / TICKS_PER_BEAT)
        superclocks = int(distance.lstrip("a"))
        return round(superclocks * self.sample_rate / SUPERCLOCKS_PER_SECOND)

    def _quarters_at_sample(self, sample: int) -> float:
        superclock = sample * SUPERCLOCKS_PER_SECOND / self.sample_rate
        point = max((p for p in self.tempos if p.superclock <= superclock), key=lambda p: p.superclock)
        return (
            point.quarters + (superclock - point.superclock) / SUPERCLOCKS_PER_SECOND * point.quarters_per_minute / 60
        )


def _quarters(text: str) -> float:
    beats, _, ticks = text.partition(":")
    return int(beats) + int(ticks or 0) / TICKS_PER_BEAT


def _source(sources: dict[str | None, ET.Element], region: ET.Element) -> ET.Element:
    return sources.get(region.get("source-0"), ET.Element("Source"))


def midi_notes(session_file: Path, region: SavedRegion) -> list[tuple[float, float, int, int]]:
    """A MIDI region's notes as Ardour saved them in its source file: (start, length) in quarter notes from the
    region's start, pitch, velocity; ordered by start and pitch."""
    path = session_file.parent / "interchange" / session_file.stem / "midifiles" / region.source_name
    song = mido.MidiFile(path)
    notes = []
    for track in song.tracks:
        now = 0
        sounding: dict[int, tuple[int, int]] = {}
        for message in track:
            now += message.time
            if message.type == "note_on" and message.velocity > 0:
                sounding[message.note] = (now, message.velocity)
            elif message.type in ("note_on", "note_off") and message.note in sounding:
                start, velocity = sounding.pop(message.note)
                beat = song.ticks_per_beat
                notes.append((start / beat, (now - start) / beat, message.note, velocity))
    return sorted(notes, key=lambda note: (note[0], note[2]))


def read_session(session_file: Path) -> SavedSession:
    root = ET.parse(session_file).getroot()
    saved = SavedSession(sample_rate=int(root.get("sample-rate", SAMPLE_RATE)))
    for tempo in root.iter("Tempo"):
        note_type = float(tempo.get("note-type", "4"))
        per_minute = float(tempo.get("npm", "120")) * 4 / note_type
        saved.tempos.append(
            TempoPoint(_quarters(tempo.get("quarters", "0:0")), int(tempo.get("sclock", 0)), per_minute)
        )
    saved.tempos.sort(key=lambda point: point.quarters)
    saved.meters = [
        (int(float(meter.get("divisions-per-bar", 4))), int(float(meter.get("note-value", 4))))
        for meter in root.iter("Meter")
    ]
    sources = {source.get("id"): source for source in root.iter("Source")}
    playlists = root.find("Playlists")
    by_track: dict[str, list[SavedRegion]] = {}
    for playlist in playlists if playlists is not None else ():
        regions = by_track.setdefault(playlist.get("orig-track-id", ""), [])
        for region in playlist.iter("Region"):
            # Ardour 7 saves a region's place in its length: "<distance>@<position>".
            length = region.get("length", "a0@a0")
            regions.append(
                SavedRegion(
                    name=region.get("name", ""),
                    position=saved.to_samples(length.partition("@")[2] or "a0"),
                    length=saved.to_samples(length),
                    source_kind=_source(sources, region).get("type", "audio"),
                    source_name=_source(sources, region).get("name", ""),
                )
            )
    routes = root.find("Routes")
    for route in routes if routes is not None else ():
        if route.get("audio-playlist") is None and route.get("midi-playlist") is None:
            continue  # a bus (the master)
        kind = route.get("default-type", "audio")
        regions = sorted(by_track.get(route.get("id", ""), []), key=lambda region: region.position)
        plugins = tuple(
            processor.get("name", "")
            for processor in route.iter("Processor")
            if processor.get("type") in ("lv2", "ladspa", "luaproc", "vst", "vst3")
        )
        saved.tracks.append(SavedTrack(route.get("name", ""), kind, tuple(regions), plugins))
    for location in root.iter("Location"):
        flags = location.get("flags", "")
        if any(kind in flags for kind in ("IsSessionRange", "IsAutoLoop", "IsAutoPunch")):
            continue
        saved.markers.append(
            SavedMarker(
                location.get("name", ""),
                saved.to_samples(location.get("start", "a0")),
                saved.to_samples(location.get("end", "a0")),
                flags,
            )
        )
    saved.markers.sort(key=lambda marker: marker.start)
    return saved


# The running GUI ----------------------------------------------------------------------------------------------------


@dataclass
class ArdourGui:
    """One Ardour GUI on its own X display, in its own HOME."""

    root: Path
    session_file: Path
    display: str
    osc_port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    spool: Path

    @property
    def session_folder(self) -> Path:
        return self.session_file.parent

    @property
    def bridge_slot(self) -> int:
        slot = installed_bridge_slot(Path(self.env["XDG_CONFIG_HOME"]))
        assert slot is not None, "the bridge action is not installed"
        return slot

    def bridge(self, timeout: float = 30.0) -> ArdourBridge:
        return ArdourBridge("127.0.0.1", self.osc_port, spool=self.spool, timeout=timeout, slot=self.bridge_slot)

    def osc(self, address: str, *args: str | int | float) -> None:
        SimpleUDPClient("127.0.0.1", self.osc_port).send_message(address, list(args))

    def trigger(self, slot: int) -> None:
        """Presses action button `slot` (from 1), as a control surface does."""
        self.osc("/access_action", f"LuaAction/script-{slot}")

    def save(self, timeout: float = 30.0) -> SavedSession:
        """Saves the session over OSC (/save_state) and reads the file Ardour wrote."""
        before = self.session_file.stat().st_mtime_ns
        self.osc("/save_state")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with suppress(FileNotFoundError, ET.ParseError):
                if self.session_file.stat().st_mtime_ns != before:
                    return read_session(self.session_file)
            time.sleep(0.02)
        raise TimeoutError(f"Ardour did not save {self.session_file} within {timeout} s")

    def screenshot(self, path: Path, *, editor_only: bool = False) -> Path:
        """The screen as a PNG; `editor_only`: cropped to the editor's window (dialogs over it included)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        crop: list[str] = []
        if editor_only:
            title = f"{self.session_file.stem} - Ardour"
            editor = next(w for w in windows(self.display) if w.title.lstrip("*") == title)
            crop = ["-crop", f"{editor.width}x{editor.height}+{editor.x}+{editor.y}", "+repage"]
        subprocess.run(
            ["import", "-display", self.display, "-window", "root", *crop, str(path)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return path

    def dialogs(self, title: str | None = None) -> list["Window"]:
        """The windows shown besides the editor (dialogs, progress windows), or those titled `title`."""
        editor = f"{self.session_file.stem} - Ardour"  # "*<session> - Ardour" when it has unsaved changes
        return [
            window
            for window in windows(self.display)
            if (window.title == title if title is not None else window.title.lstrip("*") not in (editor, "Ardour"))
            and is_viewable(self.display, window)
        ]

    def action_slot(self, name: str) -> int:
        """The slot `dgx-music ardour install` bound the action called `name` to."""
        manifest = Path(self.env["XDG_CONFIG_HOME"]) / "ardour7" / "scripts" / MANIFEST
        return Installed.load(manifest, 7).slots[name]

    def plans(self) -> set[Path]:
        """The plans the actions' work wrote into the session's dgx-music folder."""
        return set((self.session_folder / "dgx-music").glob("*/plan.lua"))

    def wait_for_action(self, plans_before: set[Path], timeout: float = 300.0) -> Path:
        """Until an action's work wrote its plan and the action ended (no window of it left); answers the plan."""

        def planned_or_refused() -> set[Path]:
            if self.dialogs("dgx-music"):  # the actions' message dialog: a refusal or a failure
                raise RuntimeError(f"the action said no: see {self.screenshot(self.root / 'refused.png')}")
            return self.plans() - plans_before

        new = wait_until("plan", planned_or_refused, timeout, every=0.05)
        try:
            wait_until("end of the action", lambda: not self.dialogs(), 60, every=0.02)
        except TimeoutError as exc:
            shown = [window.title for window in self.dialogs()]
            raise TimeoutError(f"{exc}: still shown {shown} (see {self.screenshot(self.root / 'stuck.png')})") from exc
        return sorted(new)[0]

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Ardour ended (status {self.process.returncode}):\n{tail}")

    def wait_ready(self, timeout: float = 120.0) -> dict[str, object]:
        """Until the session is loaded and the bridge action answers."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with self.bridge(timeout=3.0) as bridge:
                    return bridge.ping()
            except ArdourError as exc:
                last = exc
                time.sleep(0.5)
        raise TimeoutError(f"Ardour was not ready within {timeout} s: {last}")


def _start_xvfb(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    read, write = os.pipe()
    with open(log, "wb") as out:
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    os.close(write)
    with os.fdopen(read) as displays:
        number = displays.readline().strip()
    if not number.isdigit():
        xvfb.kill()
        raise RuntimeError(f"Xvfb gave no display: {log.read_text(errors='replace')}")
    return xvfb, f":{number}"


def _end(process: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """Ends a process and its whole group: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(10)


def private_env(root: Path, display: str | None = None) -> dict[str, str]:
    home = root / "home"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("XDG_", "ARDOUR", "DGXMUSIC_ARDOUR"))}
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "NO_AT_BRIDGE": "1",
    }
    if display is not None:
        env["DISPLAY"] = display
    return env


@contextmanager
def running_ardour(
    root: Path,
    *,
    name: str = "dgx",
    install: bool = True,
    server: str = "127.0.0.1:50051",
    ready_timeout: float = 120.0,
) -> Iterator[ArdourGui]:
    """Ardour's GUI on a fresh session under `root`, ready (its bridge action answering) when entered; killed with
    everything it started on exit."""
    root.mkdir(parents=True, exist_ok=True)
    env = private_env(root)
    config = Path(env["XDG_CONFIG_HOME"]) / "ardour7"
    config.mkdir(parents=True, exist_ok=True)
    osc_port = free_udp_port()
    (config / "config").write_text(_user_config(osc_port))
    (config / ".a7").touch()
    (config / "osc_url").touch()
    if install:
        install_actions(env, server)
    session_file = new_session(root / name, name, env)
    xvfb, display = _start_xvfb(root / "xvfb.log")
    env["DISPLAY"] = display
    log = root / "ardour.log"
    process = None
    try:
        with open(log, "wb") as out:
            process = subprocess.Popen(
                ["timeout", "-k", "5", str(LIFETIME_SECONDS), ARDOUR, "-a", "-n", str(session_file)],
                env=env,
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        gui = ArdourGui(
            root,
            session_file,
            display,
            _osc_port(config / "osc_url", osc_port, process, log),
            env,
            process,
            log,
            Path(env["XDG_CACHE_HOME"]) / "dgx-music" / "ardour-bridge",
        )
        if install:
            gui.wait_ready(ready_timeout)
        yield gui
    finally:
        if process is not None:
            _end(process)
        _end(xvfb)


def _osc_port(url_file: Path, wanted: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> int:
    """The port Ardour's OSC server took (the configured one, or the next free one): from its osc_url file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"Ardour ended (status {process.returncode}):\n{log.read_text(errors='replace')[-2000:]}"
            )
        match = re.search(r":(\d+)/?\s*$", url_file.read_text())
        if match:
            return int(match[1])
        time.sleep(0.2)
    raise TimeoutError(f"Ardour's OSC surface did not start within {timeout} s (wanted port {wanted})")


# Windows and keys: a person at the dialogs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    id: int
    title: str
    width: int
    height: int
    x: int
    y: int


_WINDOW_LINE = re.compile(r'^\s*(0x[0-9a-f]+) "(.*)": \(.*\)\s+(\d+)x(\d+)\+(-?\d+)\+(-?\d+)')


def windows(display: str) -> list[Window]:
    """The display's named top-level windows (no window manager runs: Ardour's windows are the root's children)."""
    listing = subprocess.run(
        ["xwininfo", "-display", display, "-root", "-children"], capture_output=True, text=True, timeout=30
    ).stdout
    found = []
    for line in listing.splitlines():
        match = _WINDOW_LINE.match(line)
        if match:
            window_id, title, width, height, x, y = match.groups()
            found.append(Window(int(window_id, 16), title, int(width), int(height), int(x), int(y)))
    return found


def is_viewable(display: str, window: Window) -> bool:
    """Mapped and shown (a dialog that is done stays a child of the root, unmapped)."""
    info = subprocess.run(
        ["xwininfo", "-display", display, "-id", hex(window.id)], capture_output=True, text=True, timeout=30
    ).stdout
    return "IsViewable" in info


def wait_until(what: str, check: Callable[[], T], timeout: float = 60.0, every: float = 0.01) -> T:
    """`check()`'s first true answer, asked every `every` seconds; TimeoutError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise TimeoutError(f"no {what} within {timeout} s")


class Keyboard:
    """Keys typed into a window of an X display through the XTEST extension (libXtst), as a person types them."""

    _REVERT_TO_PARENT = 2

    def __init__(self, display: str) -> None:
        self.x11 = ctypes.cdll.LoadLibrary("libX11.so.6")
        self.xtst = ctypes.cdll.LoadLibrary("libXtst.so.6")
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XStringToKeysym.restype = ctypes.c_ulong
        self.x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
        self.x11.XKeysymToKeycode.restype = ctypes.c_ubyte
        self.x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.x11.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
        self.x11.XFlush.argtypes = [ctypes.c_void_p]
        self.x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        self.xtst.XTestFakeMotionEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        self.display = self.x11.XOpenDisplay(display.encode())
        if not self.display:
            raise RuntimeError(f"cannot open X display {display}")

    def close(self) -> None:
        self.x11.XCloseDisplay(self.display)

    def focus(self, window: Window) -> None:
        """The pointer over `window` and the keyboard's focus in it."""
        self.xtst.XTestFakeMotionEvent(self.display, -1, window.x + window.width // 2, window.y + 5, 0)
        self.x11.XSetInputFocus(self.display, window.id, self._REVERT_TO_PARENT, 0)
        self.x11.XSync(self.display, 0)

    def key(self, name: str, *, shift: bool = False) -> None:
        """One key by its X keysym name ("Return", "Tab", "a", "comma"...)."""
        code = self.x11.XKeysymToKeycode(self.display, self.x11.XStringToKeysym(name.encode()))
        if not code:
            raise ValueError(f"no key for {name!r}")
        shift_code = self.x11.XKeysymToKeycode(self.display, self.x11.XStringToKeysym(b"Shift_L"))
        if shift:
            self.xtst.XTestFakeKeyEvent(self.display, shift_code, 1, 0)
        self.xtst.XTestFakeKeyEvent(self.display, code, 1, 0)
        self.xtst.XTestFakeKeyEvent(self.display, code, 0, 0)
        if shift:
            self.xtst.XTestFakeKeyEvent(self.display, shift_code, 0, 0)
        self.x11.XSync(self.display, 0)

    def type(self, text: str) -> None:
        for char in text:
            if char.isascii() and char.isalnum():
                self.key(char.lower(), shift=char.isupper())
            else:
                self.key(_KEYSYMS[char], shift=char in _SHIFTED)


_KEYSYMS = {" ": "space", ",": "comma", ".": "period", "-": "minus", "/": "slash", ":": "colon", "'": "apostrophe"}
_SHIFTED = {":"}
