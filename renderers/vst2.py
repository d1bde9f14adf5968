"""An offline VST2 instrument host: MIDI events in seconds -> float32 stereo audio, through the plugin's own library.

`vst2_instruments()` lists the VST2 instruments (synths with no audio input) in the VST2 directories and their
programs. `VST2Renderer` plays MIDI through one, optionally with one of its programs, in fixed 512-frame blocks,
with every event at its exact frame: the same contract as renderers.lv2.LV2Renderer. The host is a small ctypes
one rather than dawdreamer, which can neither pass raw MIDI messages (controllers, pitch bend) nor choose a program.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from renderers import _vst2 as vstc
from renderers.errors import PluginLoadError, PluginNotFound, PresetNotFound, RenderError
from renderers.fluidsynth import check_sample_rate
from renderers.lv2 import BLOCK_FRAMES, Audio, Note, in_play_order, reseed_library
from renderers.midi import MidiEvent, message_bytes

DEFAULT_VST2_DIRS = (Path.home() / ".vst", Path("/usr/local/lib/vst"), Path("/usr/lib/vst"), Path("/usr/lib/lxvst"))
_SCAN_SAMPLE_RATE = 44100
_GET_EFFECT_NAME = 45
_GET_PRODUCT_STRING = 48


def vst2_dirs() -> tuple[Path, ...]:
    """Where VST2 plugins are looked for: VST_PATH (colon-separated) when set, else DEFAULT_VST2_DIRS."""
    listed = os.environ.get("VST_PATH", "")
    return tuple(Path(part) for part in listed.split(":") if part) or DEFAULT_VST2_DIRS


@dataclass(frozen=True)
class VST2Instrument:
    """An installed VST2 plugin that plays MIDI into audio, and its programs by name."""

    path: str
    name: str
    presets: tuple[str, ...]
    audio_outputs: int


_pinned: dict[str, ctypes.CDLL] = {}
_pinned_lock = threading.Lock()


def _library(path: str) -> ctypes.CDLL:
    """The plugin's library, loaded once and kept for the life of the process: a plugin's library may keep threads
    or registrations that do not survive unloading (as a-fluidsynth's LV2 library does, see renderers.lv2)."""
    with _pinned_lock:
        if path not in _pinned:
            try:
                _pinned[path] = ctypes.CDLL(path)
            except OSError as error:
                raise PluginLoadError(f"cannot load the VST2 plugin library {path}: {error}") from None
        return _pinned[path]


class _Effect:
    """One open instance of a VST2 plugin, set to a sample rate and the host's block length."""

    def __init__(self, path: str, sample_rate: int) -> None:
        library = _library(path)
        entry = next((getattr(library, name) for name in vstc.ENTRY_POINTS if hasattr(library, name)), None)
        if entry is None:
            raise PluginLoadError(f"{path} is not a VST2 plugin: it has no {' or '.join(vstc.ENTRY_POINTS)}")
        self.path = path
        self.sample_rate = sample_rate
        self._callback = vstc.HostCallback(self._answer)  # kept alive: the plugin calls it until closed
        reseed_library(library)
        entry.restype, entry.argtypes = ctypes.POINTER(vstc.AEffect), [vstc.HostCallback]
        pointer = entry(self._callback)
        if not pointer or pointer.contents.magic != vstc.MAGIC:
            raise PluginLoadError(f"VST2 plugin {path} did not create an instance")
        self.effect = pointer.contents
        self._address = ctypes.addressof(self.effect)
        self._closed = False
        self.dispatch(vstc.OPEN)
        self.dispatch(vstc.SET_SAMPLE_RATE, opt=float(sample_rate))
        self.dispatch(vstc.SET_BLOCK_SIZE, value=BLOCK_FRAMES)

    def _answer(self, _effect: int | None, opcode: int, _index: int, _value: int, _ptr: int | None, _opt: float) -> int:
        match opcode:
            case vstc.HOST_VERSION:
                return vstc.VERSION
            case vstc.HOST_GET_SAMPLE_RATE:
                return self.sample_rate
            case vstc.HOST_GET_BLOCK_SIZE:
                return BLOCK_FRAMES
            case vstc.HOST_GET_CURRENT_PROCESS_LEVEL:
                return vstc.PROCESS_LEVEL_OFFLINE
        return 0  # no time info, no automation, no window: "not supported"

    def dispatch(self, opcode: int, index: int = 0, value: int = 0, ptr: int | None = None, opt: float = 0.0) -> int:
        return int(self.effect.dispatcher(self._address, opcode, index, value, ptr, opt))

    def _text(self, opcode: int, index: int = 0) -> str:
        buffer = ctypes.create_string_buffer(vstc.PROGRAM_NAME_BYTES)
        self.dispatch(opcode, index, -1, ctypes.addressof(buffer))
        return buffer.value.decode(errors="replace").strip()

    @property
    def is_instrument(self) -> bool:
        """A synth (by its flag or its category) with audio outputs and no audio input."""
        effect = self.effect
        synth = bool(effect.flags & vstc.FLAG_IS_SYNTH) or self.dispatch(vstc.GET_PLUG_CATEGORY) == vstc.CATEGORY_SYNTH
        return synth and effect.num_inputs == 0 and effect.num_outputs > 0

    def name(self) -> str:
        return self._text(_GET_EFFECT_NAME) or self._text(_GET_PRODUCT_STRING) or Path(self.path).stem

    def program_names(self) -> tuple[str, ...]:
        """The programs by name, in program order; one the plugin leaves unnamed is called "Program <number>"."""
        return tuple(
            self._text(vstc.GET_PROGRAM_NAME_INDEXED, index) or f"Program {index + 1}"
            for index in range(self.effect.num_programs)
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.dispatch(vstc.CLOSE)


def _library_files(dirs: Iterable[Path]) -> Iterator[Path]:
    seen: set[Path] = set()
    for directory in dirs:
        for path in sorted(directory.rglob("*.so")) if directory.is_dir() else ():
            if path.is_file() and path.resolve() not in seen:
                seen.add(path.resolve())
                yield path


def vst2_instruments(dirs: Sequence[Path] | None = None) -> list[VST2Instrument]:
    """The VST2 instruments in `dirs` (default: vst2_dirs()) and their subdirectories, by path. Each library is
    loaded and instantiated to ask it: a file that is not a VST2 plugin, or fails to load, is left out."""
    found = []
    for path in _library_files(vst2_dirs() if dirs is None else dirs):
        try:
            effect = _Effect(str(path), _SCAN_SAMPLE_RATE)
        except PluginLoadError:
            continue
        try:
            if effect.is_instrument:
                found.append(
                    VST2Instrument(str(path), effect.name(), effect.program_names(), effect.effect.num_outputs)
                )
        finally:
            effect.close()
    return found


class VST2Renderer:
    """Plays MIDI through one VST2 instrument, one render at a time, with the program chosen by name (None: the
    plugin's own first state). Each render runs a fresh instance, so the same input gives the same samples, to the
    plugin's own noise: ZynAddSubFX differs by about 1e-17 at a note's first sample from instance to instance."""

    def __init__(self, path: str, sample_rate: int = 44100, preset: str | None = None) -> None:
        check_sample_rate(sample_rate)
        if not Path(path).is_file():
            raise PluginNotFound(path, "the file system", plugin_format="VST2")
        self.path = path
        self.sample_rate = sample_rate
        self.preset = preset
        self._closed = False
        self._effect: _Effect | None = _Effect(path, sample_rate)
        try:
            if not self._effect.is_instrument:
                raise PluginLoadError(f"VST2 plugin {path} is not an instrument (a synth with no audio input)")
            if not self._effect.effect.flags & vstc.FLAG_CAN_REPLACING:
                raise PluginLoadError(f"VST2 plugin {path} cannot process replacing, the only way this host runs")
            programs = self._effect.program_names()
            if preset is not None and preset not in programs:
                raise PresetNotFound(path, preset, programs)
            self._program = None if preset is None else programs.index(preset)
            self._prepare(self._effect)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> VST2Renderer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _prepare(self, effect: _Effect) -> None:
        if self._program is not None:
            effect.dispatch(vstc.SET_PROGRAM, value=self._program)

    def _fresh_effect(self) -> _Effect:
        effect = self._effect
        self._effect = None
        if effect is None:
            effect = _Effect(self.path, self.sample_rate)
            self._prepare(effect)
        return effect

    def render(self, played: Iterable[MidiEvent | Note], seconds: float) -> Audio:
        """`seconds` of audio, [frames, 2] float32, of the events (or notes) played from time 0; what falls at or
        after `seconds` is not played, and a tail to let ring is the caller's to include in `seconds`. A mono
        instrument sounds in both channels; one with more outputs is heard through its first two."""
        if self._closed:
            raise RenderError("the renderer is closed")
        if not (seconds >= 0.0 and np.isfinite(seconds)):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        frames = round(seconds * self.sample_rate)
        blocks: list[list[tuple[int, bytes]]] = [[] for _ in range(-(-frames // BLOCK_FRAMES))]
        for event in in_play_order(played):
            at = max(0, round(event.seconds * self.sample_rate))
            if at < frames:
                blocks[at // BLOCK_FRAMES].append((at % BLOCK_FRAMES, message_bytes(event)))
        effect = self._fresh_effect()
        try:
            out = _play(effect, blocks)
        finally:
            effect.close()
        out = out[:frames]
        if not np.all(np.isfinite(out)):
            raise RenderError(f"VST2 plugin {self.path} produced samples that are not finite (NaN or infinity)")
        return out

    def close(self) -> None:
        """Close the waiting plugin instance. Later renders raise RenderError."""
        self._closed = True
        if self._effect is not None:
            self._effect.close()
            self._effect = None


def _play(effect: _Effect, blocks: Sequence[Sequence[tuple[int, bytes]]]) -> Audio:
    outputs = [np.zeros(BLOCK_FRAMES, dtype=np.float32) for _ in range(effect.effect.num_outputs)]
    output_pointers = (ctypes.c_void_p * len(outputs))(*(buffer.ctypes.data for buffer in outputs))
    input_pointers = (ctypes.c_void_p * 1)()  # an instrument has no inputs; some plugins read the array anyway
    left, right = outputs[0], outputs[min(1, len(outputs) - 1)]
    out = np.zeros((len(blocks) * BLOCK_FRAMES, 2), dtype=np.float32)
    effect.dispatch(vstc.MAINS_CHANGED, value=1)
    try:
        for number, events in enumerate(blocks):
            in_flight = _send(effect, events) if events else None
            effect.effect.process_replacing(
                ctypes.addressof(effect.effect),
                ctypes.addressof(input_pointers),
                ctypes.addressof(output_pointers),
                BLOCK_FRAMES,
            )
            del in_flight
            out[number * BLOCK_FRAMES : (number + 1) * BLOCK_FRAMES, 0] = left
            out[number * BLOCK_FRAMES : (number + 1) * BLOCK_FRAMES, 1] = right
    finally:
        effect.dispatch(vstc.MAINS_CHANGED, value=0)
    return out


def _send(effect: _Effect, events: Sequence[tuple[int, bytes]]) -> object:
    """One block's events, as (frame within the block, MIDI bytes) in time order. The plugin may read them as late
    as its next process call: the caller keeps what this returns alive until that call has returned."""
    messages = [
        vstc.MidiEvent(
            type=vstc.MIDI_EVENT_TYPE,
            byte_size=ctypes.sizeof(vstc.MidiEvent),
            delta_frames=frame,
            midi_data=(ctypes.c_ubyte * 4)(*data),
        )
        for frame, data in events
    ]
    batch = vstc.events_type(len(messages))()
    batch.num_events = len(messages)
    for index, message in enumerate(messages):
        batch.events[index] = ctypes.addressof(message)
    effect.dispatch(vstc.PROCESS_EVENTS, ptr=ctypes.addressof(batch))
    return messages, batch
