"""An offline LV2 instrument host: MIDI events in seconds -> float32 stereo audio, through Debian's liblilv.

`lv2_instruments()` lists the installed plugins that are instruments: a MIDI input (an atom port that takes
midi:MidiEvent), audio outputs and no audio input. `LV2Renderer` instantiates one once and plays MIDI through it
in fixed 512-frame blocks, faster than real time. It offers what instruments commonly require: urid map/unmap,
the options feature (block lengths, sample rate), and the worker, whose jobs run synchronously right after the
block that scheduled them, so a plugin loading samples in its worker renders the same samples every time.
"""

from __future__ import annotations

import ctypes
import os
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum, auto
from types import TracebackType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from renderers import _liblilv as lv2c
from renderers.errors import PluginLoadError, PluginNotFound, PresetNotFound, RenderError
from renderers.fluidsynth import check_sample_rate
from renderers.midi import EventKind, MidiEvent, message_bytes

BLOCK_FRAMES = 512
_SEQUENCE_BYTES = 64 * 1024  # an atom sequence port's buffer: ~2700 MIDI events in one block
_MAX_WORK_ROUNDS = 64  # worker responses may schedule more work; a plugin that never stops is a bug
_DEFAULT_LV2_PATH = "lilv's default: ~/.lv2, /usr/local/lib/lv2, /usr/lib/lv2"

_CORE = "http://lv2plug.in/ns/lv2core#"
_ATOM = "http://lv2plug.in/ns/ext/atom#"
_BUF_SIZE = "http://lv2plug.in/ns/ext/buf-size#"
_URID_MAP = "http://lv2plug.in/ns/ext/urid#map"
_URID_UNMAP = "http://lv2plug.in/ns/ext/urid#unmap"
_WORKER_SCHEDULE = "http://lv2plug.in/ns/ext/worker#schedule"
_WORKER_INTERFACE = "http://lv2plug.in/ns/ext/worker#interface"
_OPTIONS = "http://lv2plug.in/ns/ext/options#options"
_MIDI_EVENT = "http://lv2plug.in/ns/ext/midi#MidiEvent"
_PRESET = "http://lv2plug.in/ns/ext/presets#Preset"
_PATCH_WRITABLE = "http://lv2plug.in/ns/ext/patch#writable"
_RDFS_RANGE = "http://www.w3.org/2000/01/rdf-schema#range"
_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
_SAMPLE_RATE = "http://lv2plug.in/ns/ext/parameters#sampleRate"
# Every block is BLOCK_FRAMES long, so the host can promise all three.
_BLOCK_PROMISES = (_BUF_SIZE + "boundedBlockLength", _BUF_SIZE + "fixedBlockLength", _BUF_SIZE + "powerOf2BlockLength")
SUPPORTED_FEATURES = frozenset({_URID_MAP, _URID_UNMAP, _WORKER_SCHEDULE, _OPTIONS, *_BLOCK_PROMISES})

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LV2Instrument:
    """An installed LV2 plugin that plays MIDI into audio, and the labels of its presets."""

    uri: str
    name: str
    audio_outputs: int
    presets: tuple[str, ...] = ()


class Note(NamedTuple):
    """A note from `start` to `end` seconds; the renderer plays it as a note-on and a note-off."""

    pitch: int
    start: float
    end: float
    velocity: int = 100
    channel: int = 0


class _Port(Enum):
    AUDIO_IN = auto()
    AUDIO_OUT = auto()
    CONTROL_IN = auto()
    CONTROL_OUT = auto()
    MIDI_IN = auto()
    ATOM_IN = auto()
    ATOM_OUT = auto()
    CV = auto()
    UNKNOWN = auto()


class _World:
    """A lilv world with every bundle on the LV2 search path loaded; freed once, with the nodes it made."""

    def __init__(self) -> None:
        self.api = lv2c.load()
        world = self.api.lilv_world_new()
        if not world:
            raise RenderError("lilv could not create its world")
        self.pointer: int = world
        self._closed = False
        self._nodes: list[int] = []
        self.api.lilv_world_load_all(world)
        self.plugins = self.api.lilv_world_get_all_plugins(world)
        self._classes = {name: self.uri(_CORE + name) for name in ("InputPort", "OutputPort", "AudioPort")}
        self._classes |= {name: self.uri(_CORE + name) for name in ("ControlPort", "CVPort")}
        self._classes["AtomPort"] = self.uri(_ATOM + "AtomPort")
        self._midi_event = self.uri(_MIDI_EVENT)
        self._preset = self.uri(_PRESET)
        self._label = self.uri(_LABEL)

    def uri(self, uri: str) -> int:
        node = self.api.lilv_new_uri(self.pointer, uri.encode())
        if not node:
            raise RenderError(f"lilv rejected the URI {uri!r}")
        self._nodes.append(node)
        return node

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for node in self._nodes:
            self.api.lilv_node_free(node)
        self._nodes.clear()
        self.api.lilv_world_free(self.pointer)

    def all_plugins(self) -> Iterator[int]:
        api, plugins = self.api, self.plugins
        iterator = api.lilv_plugins_begin(plugins)
        while not api.lilv_plugins_is_end(plugins, iterator):
            yield api.lilv_plugins_get(plugins, iterator)
            iterator = api.lilv_plugins_next(plugins, iterator)

    def plugin(self, uri: str) -> int:
        found = self.api.lilv_plugins_get_by_uri(self.plugins, self.uri(uri))
        if not found:
            raise PluginNotFound(uri, os.environ.get("LV2_PATH") or _DEFAULT_LV2_PATH)
        return found

    def plugin_uri(self, plugin: int) -> str:
        return self.api.lilv_node_as_string(self.api.lilv_plugin_get_uri(plugin)).decode()

    def library_path(self, plugin: int) -> str | None:
        node = self.api.lilv_plugin_get_library_uri(plugin)
        if not node:
            return None
        uri = urllib.parse.urlparse(self.api.lilv_node_as_string(node).decode())
        return urllib.parse.unquote(uri.path) if uri.scheme == "file" else None

    def plugin_name(self, plugin: int) -> str:
        node = self.api.lilv_plugin_get_name(plugin)
        if not node:
            return self.plugin_uri(plugin)
        try:
            return self.api.lilv_node_as_string(node).decode()
        finally:
            self.api.lilv_node_free(node)

    def presets(self, plugin: int) -> dict[str, str]:
        """The plugin's presets, label -> URI, by label; a preset without a label goes by its URI. A label is read
        from the bundle manifests first and the preset's own file only when they lack one: ZynAddSubFX has hundreds
        of presets, each file holding a whole instrument."""
        api = self.api
        nodes = api.lilv_plugin_get_related(plugin, self._preset)
        if not nodes:
            return {}
        found: dict[str, str] = {}
        try:
            iterator = api.lilv_nodes_begin(nodes)
            while not api.lilv_nodes_is_end(nodes, iterator):
                preset = api.lilv_nodes_get(nodes, iterator)
                uri = api.lilv_node_as_string(preset).decode()
                label = self._text(preset, self._label)
                if label is None:
                    api.lilv_world_load_resource(self.pointer, preset)
                    label = self._text(preset, self._label)
                found.setdefault(label or uri, uri)
                iterator = api.lilv_nodes_next(nodes, iterator)
        finally:
            api.lilv_nodes_free(nodes)
        return dict(sorted(found.items()))

    def load_resource(self, uri: str) -> int:
        """The node of `uri`, with the files that describe it loaded."""
        node = self.uri(uri)
        self.api.lilv_world_load_resource(self.pointer, node)
        return node

    def needs_a_file(self, plugin: int) -> bool:
        """Whether the plugin has a file parameter (patch:writable, of range atom:Path) it plays nothing without:
        a-fluidsynth waits for a SoundFont. This host sets no parameters, so such a plugin is no instrument here."""
        api = self.api
        subject = api.lilv_plugin_get_uri(plugin)
        nodes = api.lilv_world_find_nodes(self.pointer, subject, self.uri(_PATCH_WRITABLE), None)
        if not nodes:
            return False
        try:
            iterator = api.lilv_nodes_begin(nodes)
            while not api.lilv_nodes_is_end(nodes, iterator):
                parameter = api.lilv_nodes_get(nodes, iterator)
                if api.lilv_world_ask(self.pointer, parameter, self.uri(_RDFS_RANGE), self.uri(_ATOM + "Path")):
                    return True
                iterator = api.lilv_nodes_next(nodes, iterator)
            return False
        finally:
            api.lilv_nodes_free(nodes)

    def _text(self, subject: int, predicate: int) -> str | None:
        node = self.api.lilv_world_get(self.pointer, subject, predicate, None)
        if not node:
            return None
        try:
            return self.api.lilv_node_as_string(node).decode()
        finally:
            self.api.lilv_node_free(node)

    def port_symbols(self, plugin: int) -> dict[str, int]:
        """Port symbol -> port index."""
        api = self.api
        return {
            api.lilv_node_as_string(
                api.lilv_port_get_symbol(plugin, api.lilv_plugin_get_port_by_index(plugin, index))
            ).decode(): index
            for index in range(api.lilv_plugin_get_num_ports(plugin))
        }

    def ports(self, plugin: int) -> list[_Port]:
        return [
            self._port_kind(plugin, self.api.lilv_plugin_get_port_by_index(plugin, index))
            for index in range(self.api.lilv_plugin_get_num_ports(plugin))
        ]

    def required_features(self, plugin: int) -> list[str]:
        api = self.api
        nodes = api.lilv_plugin_get_required_features(plugin)
        if not nodes:
            return []
        try:
            uris = []
            iterator = api.lilv_nodes_begin(nodes)
            while not api.lilv_nodes_is_end(nodes, iterator):
                uris.append(api.lilv_node_as_string(api.lilv_nodes_get(nodes, iterator)).decode())
                iterator = api.lilv_nodes_next(nodes, iterator)
            return uris
        finally:
            api.lilv_nodes_free(nodes)

    def _port_kind(self, plugin: int, port: int) -> _Port:
        def is_a(name: str) -> bool:
            return bool(self.api.lilv_port_is_a(plugin, port, self._classes[name]))

        is_input = is_a("InputPort")
        if is_a("AudioPort"):
            return _Port.AUDIO_IN if is_input else _Port.AUDIO_OUT
        if is_a("ControlPort"):
            return _Port.CONTROL_IN if is_input else _Port.CONTROL_OUT
        if is_a("CVPort"):
            return _Port.CV
        if is_a("AtomPort"):
            if not is_input:
                return _Port.ATOM_OUT
            takes_midi = self.api.lilv_port_supports_event(plugin, port, self._midi_event)
            return _Port.MIDI_IN if takes_midi else _Port.ATOM_IN
        return _Port.UNKNOWN


@contextmanager
def _world() -> Iterator[_World]:
    world = _World()
    try:
        yield world
    finally:
        world.close()


_pinned: dict[str, ctypes.CDLL] = {}
_pinned_lock = threading.Lock()


# Globals in which plugin libraries keep a random generator's state, by symbol: the state outlives the instances,
# so each instance would draw other numbers (ZynAddSubFX's patches with random oscillator phases sounded different
# every render). The hosts seed them before every instance, so the same input gives the same samples.
_RANDOM_STATE_GLOBALS: dict[str, type[ctypes.c_uint32]] = {"_ZN3zyn10prng_stateE": ctypes.c_uint32}
_RANDOM_SEED = 0x5EED


def reseed_library(library: ctypes.CDLL) -> None:
    """Seed the random generators the plugin library keeps in globals (_RANDOM_STATE_GLOBALS), if it has any."""
    for symbol, kind in _RANDOM_STATE_GLOBALS.items():
        try:
            kind.in_dll(library, symbol).value = _RANDOM_SEED
        except ValueError:  # not this library's symbol
            continue


def _pin_library(path: str | None) -> ctypes.CDLL | None:
    """Keep the plugin's shared library loaded for the life of the process. Freeing the last instance lets lilv
    unload it, and some libraries cannot be loaded again: a-fluidsynth's libinstpatch re-registers its GLib types
    and the next instantiation hangs."""
    if path is None:
        return None
    with _pinned_lock:
        if path not in _pinned:
            try:
                _pinned[path] = ctypes.CDLL(path)
            except OSError as error:
                raise PluginLoadError(f"cannot load the LV2 plugin library {path}: {error}") from None
        return _pinned[path]


def _is_instrument(ports: Sequence[_Port]) -> bool:
    return _Port.MIDI_IN in ports and _Port.AUDIO_OUT in ports and _Port.AUDIO_IN not in ports


def lv2_instruments() -> list[LV2Instrument]:
    """The instruments on the LV2 search path (LV2_PATH, or lilv's default), by URI; not those that need a file to
    play (needs_a_file)."""
    with _world() as world:
        found = []
        for plugin in world.all_plugins():
            ports = world.ports(plugin)
            if _is_instrument(ports) and not world.needs_a_file(plugin):
                name, presets = world.plugin_name(plugin), tuple(world.presets(plugin))
                found.append(LV2Instrument(world.plugin_uri(plugin), name, ports.count(_Port.AUDIO_OUT), presets))
    return sorted(found, key=lambda instrument: instrument.uri)


class _Urids:
    """urid:map and urid:unmap: URIs numbered from 1 in the order they are first asked for."""

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._uris: list[ctypes.Array[ctypes.c_char]] = []  # kept alive: unmap hands out their addresses
        self.map_function = lv2c.MapFunction(self._map)
        self.unmap_function = lv2c.UnmapFunction(self._unmap)
        self.map_feature = lv2c.UridMap(None, self.map_function)
        self.unmap_feature = lv2c.UridUnmap(None, self.unmap_function)

    def __call__(self, uri: str) -> int:
        return self._map(None, uri.encode())

    def _map(self, _handle: int | None, uri: bytes | None) -> int:
        if uri is None:
            return 0
        if uri not in self._ids:
            self._uris.append(ctypes.create_string_buffer(uri))
            self._ids[uri] = len(self._uris)
        return self._ids[uri]

    def _unmap(self, _handle: int | None, urid: int) -> int | None:
        return ctypes.addressof(self._uris[urid - 1]) if 0 < urid <= len(self._uris) else None


class _Worker:
    """worker:schedule run synchronously: jobs queue during run(), then run, then their responses are delivered."""

    def __init__(self) -> None:
        self._jobs: list[bytes] = []
        self._responses: list[bytes] = []
        self.schedule_function = lv2c.ScheduleWork(self._schedule)
        self.respond_function = lv2c.Respond(self._respond)
        self.feature = lv2c.WorkerSchedule(None, self.schedule_function)
        self.interface: lv2c.WorkerInterface | None = None

    def _schedule(self, _handle: int | None, size: int, data: int | None) -> int:
        if self.interface is None:
            return lv2c.WORKER_ERR_NO_SPACE
        self._jobs.append(ctypes.string_at(data, size) if data else b"")
        return lv2c.WORKER_SUCCESS

    def _respond(self, _handle: int | None, size: int, data: int | None) -> int:
        self._responses.append(ctypes.string_at(data, size) if data else b"")
        return lv2c.WORKER_SUCCESS

    def after_run(self, handle: int) -> None:
        interface = self.interface
        if interface is None:
            return
        for _ in range(_MAX_WORK_ROUNDS):
            if not self._jobs and not self._responses:
                break
            jobs, self._jobs = self._jobs, []
            for job in jobs:
                interface.work(handle, self.respond_function, None, len(job), job)
            responses, self._responses = self._responses, []
            for response in responses:
                interface.work_response(handle, len(response), response)
        else:
            raise RenderError("the LV2 plugin's worker kept scheduling work")
        if interface.end_run:
            interface.end_run(handle)


def _options(
    urids: _Urids, sample_rate: int
) -> tuple[ctypes.Array[lv2c.Option], list[ctypes.c_int32 | ctypes.c_float]]:
    """The instance options (block lengths, sequence size, sample rate), and the values they point at."""
    block = ctypes.c_int32(BLOCK_FRAMES)
    sequence = ctypes.c_int32(_SEQUENCE_BYTES)
    rate = ctypes.c_float(sample_rate)
    int_type, float_type = urids(_ATOM + "Int"), urids(_ATOM + "Float")
    entries: list[tuple[int, int, ctypes.c_int32 | ctypes.c_float]] = [
        (urids(_BUF_SIZE + "minBlockLength"), int_type, block),
        (urids(_BUF_SIZE + "maxBlockLength"), int_type, block),
        (urids(_BUF_SIZE + "nominalBlockLength"), int_type, block),
        (urids(_BUF_SIZE + "sequenceSize"), int_type, sequence),
        (urids(_SAMPLE_RATE), float_type, rate),
    ]
    options = (lv2c.Option * (len(entries) + 1))()  # the last stays all zero: the end of the list
    for option, (key, value_type, value) in zip(options, entries, strict=False):
        option.context = lv2c.OPTIONS_INSTANCE
        option.key = key
        option.size = ctypes.sizeof(value)
        option.type = value_type
        option.value = ctypes.addressof(value)
    return options, [block, sequence, rate]


def in_play_order(played: Iterable[MidiEvent | Note]) -> list[MidiEvent]:
    """The events in time order (simultaneous ones as given), notes as note-ons and note-offs; the note-offs of
    notes come before note-ons at the same time, so a repeated note is played again, not cut."""
    events: list[MidiEvent] = []
    offs: list[MidiEvent] = []
    for item in played:
        if isinstance(item, Note):
            events.append(MidiEvent(item.start, EventKind.NOTE_ON, item.channel, item.pitch, item.velocity))
            offs.append(MidiEvent(item.end, EventKind.NOTE_OFF, item.channel, item.pitch))
        else:
            events.append(item)
    return sorted(offs + events, key=lambda event: event.seconds)


class _Sequence:
    """An atom sequence port's buffer, written once per block with the events that fall in it."""

    def __init__(self, urids: _Urids) -> None:
        self.buffer = (ctypes.c_uint64 * (_SEQUENCE_BYTES // 8))()  # 8-byte aligned, as atoms must be
        self.address = ctypes.addressof(self.buffer)
        self._sequence_type = urids(_ATOM + "Sequence")
        self._chunk_type = urids(_ATOM + "Chunk")
        self._midi_type = urids(_MIDI_EVENT)
        self._header = lv2c.SequenceHeader.from_buffer(self.buffer)

    def write(self, events: Sequence[tuple[int, bytes]]) -> None:
        """Events as (frame within the block, MIDI bytes), in time order."""
        offset = ctypes.sizeof(lv2c.SequenceHeader)
        for frame, data in events:
            size = ctypes.sizeof(lv2c.EventHeader) + len(data)
            if offset + size > _SEQUENCE_BYTES:
                raise RenderError(f"more MIDI events in one {BLOCK_FRAMES}-frame block than the LV2 buffer holds")
            header = lv2c.EventHeader.from_buffer(self.buffer, offset)
            header.frames, header.body.size, header.body.type = frame, len(data), self._midi_type
            ctypes.memmove(self.address + offset + ctypes.sizeof(lv2c.EventHeader), data, len(data))
            offset += (size + 7) & ~7
        self._header.atom.size = offset - ctypes.sizeof(lv2c.Atom)
        self._header.atom.type = self._sequence_type
        self._header.unit = 0  # times in frames
        self._header.pad = 0

    def make_room(self) -> None:
        """Ready as an output: a chunk whose size is the space the plugin may write into."""
        self._header.atom.size = _SEQUENCE_BYTES - ctypes.sizeof(lv2c.Atom)
        self._header.atom.type = self._chunk_type


class LV2Renderer:
    """Plays MIDI through one LV2 instrument, one render at a time. The plugin is found, checked and instantiated
    when the renderer is made; a render leaves its instance spent, and the next render instantiates the plugin
    afresh: activate() does not reset every plugin (mda Piano's voices ring on), a new instance does, so the same
    input gives the same samples. Only state a plugin keeps in its library's globals outlives its instances (the
    library stays loaded, _pin_library): mda ePiano's renders drift by about 3e-7 per render (-130 dBFS).

    A preset, by its label (LV2Instrument.presets), is restored into every fresh instance: its port values and, for
    a plugin with the state interface, its state (ZynAddSubFX's presets are whole instruments in its state)."""

    def __init__(self, uri: str, sample_rate: int = 44100, preset: str | None = None) -> None:
        check_sample_rate(sample_rate)
        self.uri = uri
        self.sample_rate = sample_rate
        self.preset = preset
        self._world = _World()
        self._pointer: int | None = None
        self._state: int | None = None
        self._spent = False
        self._closed = False
        try:
            self._plugin = self._world.plugin(uri)
            self._ports = self._world.ports(self._plugin)
            self._check_plugin()
            self._library = _pin_library(self._world.library_path(self._plugin))
            self._urids = _Urids()
            self._worker = _Worker()
            self._make_features()
            self._make_port_buffers()
            if preset is not None:
                self._load_preset(preset)
            self._instantiate()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> LV2Renderer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_plugin(self) -> None:
        missing = sorted(set(self._world.required_features(self._plugin)) - SUPPORTED_FEATURES)
        if missing:
            raise PluginLoadError(f"LV2 plugin {self.uri} needs features this host lacks: {', '.join(missing)}")
        unknown = [index for index, kind in enumerate(self._ports) if kind is _Port.UNKNOWN]
        if unknown:
            raise PluginLoadError(f"LV2 plugin {self.uri} has ports of a type this host cannot feed: {unknown}")
        if not _is_instrument(self._ports):
            raise PluginLoadError(f"LV2 plugin {self.uri} is not an instrument (MIDI in, audio out, no audio in)")

    def _make_features(self) -> None:
        self._option_list, self._option_values = _options(self._urids, self.sample_rate)
        self._features = [
            lv2c.Feature(_URID_MAP.encode(), ctypes.addressof(self._urids.map_feature)),
            lv2c.Feature(_URID_UNMAP.encode(), ctypes.addressof(self._urids.unmap_feature)),
            lv2c.Feature(_WORKER_SCHEDULE.encode(), ctypes.addressof(self._worker.feature)),
            lv2c.Feature(_OPTIONS.encode(), ctypes.addressof(self._option_list)),
            *(lv2c.Feature(uri.encode(), None) for uri in _BLOCK_PROMISES),
        ]
        self._feature_list = (ctypes.POINTER(lv2c.Feature) * (len(self._features) + 1))(
            *(ctypes.pointer(feature) for feature in self._features)
        )

    def _make_port_buffers(self) -> None:
        """A buffer for every port, each instance connected to the same ones; controls start at their defaults."""
        count = len(self._ports)
        self._controls = np.zeros(count, dtype=np.float32)
        minimums = np.full(count, np.nan, dtype=np.float32)
        defaults = np.full(count, np.nan, dtype=np.float32)
        self._world.api.lilv_plugin_get_port_ranges_float(
            self._plugin, minimums.ctypes.data, None, defaults.ctypes.data
        )
        self._outputs: list[Audio] = []
        self._midi_inputs: list[_Sequence] = []
        self._atom_inputs: list[_Sequence] = []
        self._atom_outputs: list[_Sequence] = []
        self._cv: list[Audio] = []  # CV ports: silent inputs, ignored outputs
        self._addresses: list[int] = []
        for index, kind in enumerate(self._ports):
            if kind in (_Port.CONTROL_IN, _Port.CONTROL_OUT):
                start = defaults[index] if np.isfinite(defaults[index]) else minimums[index]
                self._controls[index] = start if np.isfinite(start) else 0.0
                self._addresses.append(self._controls.ctypes.data + index * self._controls.itemsize)
            elif kind in (_Port.AUDIO_OUT, _Port.CV):
                buffer = np.zeros(BLOCK_FRAMES, dtype=np.float32)
                (self._outputs if kind is _Port.AUDIO_OUT else self._cv).append(buffer)
                self._addresses.append(buffer.ctypes.data)
            else:
                sequence = _Sequence(self._urids)
                {_Port.MIDI_IN: self._midi_inputs, _Port.ATOM_IN: self._atom_inputs}.get(
                    kind, self._atom_outputs
                ).append(sequence)
                self._addresses.append(sequence.address)
        self._initial_controls = self._controls.copy()

    def _load_preset(self, label: str) -> None:
        presets = self._world.presets(self._plugin)
        if label not in presets:
            raise PresetNotFound(self.uri, label, list(presets))
        node = self._world.load_resource(presets[label])
        api = self._world.api
        self._state = api.lilv_state_new_from_world(
            self._world.pointer, ctypes.addressof(self._urids.map_feature), node
        )
        if not self._state:
            raise PluginLoadError(f"LV2 plugin {self.uri}: lilv cannot read its preset {label!r}")
        self._port_by_symbol = self._world.port_symbols(self._plugin)
        self._value_readers = {
            self._urids(_ATOM + name): reader
            for name, reader in (
                ("Float", ctypes.c_float),
                ("Double", ctypes.c_double),
                ("Int", ctypes.c_int32),
                ("Long", ctypes.c_int64),
                ("Bool", ctypes.c_int32),
            )
        }
        self._set_port_value = lv2c.SetPortValue(self._preset_port_value)

    def _preset_port_value(
        self, symbol: bytes | None, _user: int | None, value: int | None, size: int, kind: int
    ) -> None:
        """lilv's callback with one of the preset's port values; values of other types, or for ports that are not
        control inputs, are ignored."""
        index = self._port_by_symbol.get((symbol or b"").decode())
        reader = self._value_readers.get(kind)
        if index is None or reader is None or not value or size != ctypes.sizeof(reader):
            return
        if self._ports[index] is _Port.CONTROL_IN:
            self._controls[index] = reader.from_address(value).value

    def _instantiate(self) -> None:
        if self._library is not None:
            reseed_library(self._library)
        pointer = self._world.api.lilv_plugin_instantiate(
            self._plugin, float(self.sample_rate), ctypes.addressof(self._feature_list)
        )
        if not pointer:
            raise PluginLoadError(f"LV2 plugin {self.uri} failed to instantiate")
        self._pointer = pointer
        instance = lv2c.Instance.from_address(pointer)
        self._descriptor = instance.descriptor.contents
        self._handle: int = instance.handle
        self._worker.interface = None
        if self._descriptor.extension_data:
            address = self._descriptor.extension_data(_WORKER_INTERFACE.encode())
            if address:
                self._worker.interface = lv2c.WorkerInterface.from_address(address)
        self._controls[:] = self._initial_controls
        for index, address in enumerate(self._addresses):
            self._descriptor.connect_port(self._handle, index, address)
        if self._state is not None:
            set_value = ctypes.cast(self._set_port_value, ctypes.c_void_p).value
            features = ctypes.addressof(self._feature_list)
            self._world.api.lilv_state_restore(self._state, pointer, set_value, None, 0, features)
        self._spent = False

    def _free_instance(self) -> None:
        if self._pointer is not None:
            self._world.api.lilv_instance_free(self._pointer)
            self._pointer = None

    def render(self, played: Iterable[MidiEvent | Note], seconds: float) -> Audio:
        """`seconds` of audio, [frames, 2] float32, of the events (or notes) played from time 0; what falls at or
        after `seconds` is not played, and a tail to let ring is the caller's to include in `seconds`. A mono
        instrument sounds in both channels; one with more outputs is heard through its first two."""
        if self._closed:
            raise RenderError("the renderer is closed")
        if not (seconds >= 0.0 and np.isfinite(seconds)):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        if self._spent:
            self._free_instance()
            self._instantiate()
        self._spent = True
        frames = round(seconds * self.sample_rate)
        blocks: list[list[tuple[int, bytes]]] = [[] for _ in range(-(-frames // BLOCK_FRAMES))]
        for event in in_play_order(played):
            at = max(0, round(event.seconds * self.sample_rate))
            if at < frames:
                blocks[at // BLOCK_FRAMES].append((at % BLOCK_FRAMES, message_bytes(event)))
        out = np.zeros((len(blocks) * BLOCK_FRAMES, 2), dtype=np.float32)
        left, right = self._outputs[0], self._outputs[min(1, len(self._outputs) - 1)]
        if self._descriptor.activate:
            self._descriptor.activate(self._handle)
        try:
            for number, events in enumerate(blocks):
                self._run_block(events)
                out[number * BLOCK_FRAMES : (number + 1) * BLOCK_FRAMES, 0] = left
                out[number * BLOCK_FRAMES : (number + 1) * BLOCK_FRAMES, 1] = right
        finally:
            if self._descriptor.deactivate:
                self._descriptor.deactivate(self._handle)
        out = out[:frames]
        if not np.all(np.isfinite(out)):
            raise RenderError(f"LV2 plugin {self.uri} produced samples that are not finite (NaN or infinity)")
        return out

    def _run_block(self, events: Sequence[tuple[int, bytes]]) -> None:
        self._midi_inputs[0].write(events)
        for sequence in (*self._midi_inputs[1:], *self._atom_inputs):  # the first MIDI input plays; others rest
            sequence.write(())
        for sequence in self._atom_outputs:
            sequence.make_room()
        self._descriptor.run(self._handle, BLOCK_FRAMES)
        self._worker.after_run(self._handle)

    def close(self) -> None:
        """Free the plugin instance, then the world. Later renders raise RenderError."""
        self._closed = True
        self._free_instance()
        if self._state is not None:
            self._world.api.lilv_state_free(self._state)
            self._state = None
        self._world.close()
