"""Typed ctypes bindings to the liblilv functions the LV2 host calls, and the LV2 C structures it passes plugins.

Debian packages liblilv but not its Python bindings, and no LV2 headers: the structures below follow the LV2
specification's C headers (lv2core, urid, atom, worker, options), written out for ctypes. Loaded on first use,
so importing the renderers needs no liblilv.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Protocol, cast

LIBRARY = "liblilv-0.so.0"

_P = ctypes.c_void_p
_S = ctypes.c_char_p
_U32 = ctypes.c_uint32
_BOOL = ctypes.c_bool

_SIGNATURES: dict[str, tuple[type | None, list[type]]] = {
    "lilv_world_new": (_P, []),
    "lilv_world_free": (None, [_P]),
    "lilv_world_load_all": (None, [_P]),
    "lilv_world_get_all_plugins": (_P, [_P]),
    "lilv_new_uri": (_P, [_P, _S]),
    "lilv_node_free": (None, [_P]),
    "lilv_node_as_string": (_S, [_P]),
    "lilv_plugins_begin": (_P, [_P]),
    "lilv_plugins_next": (_P, [_P, _P]),
    "lilv_plugins_is_end": (_BOOL, [_P, _P]),
    "lilv_plugins_get": (_P, [_P, _P]),
    "lilv_plugins_get_by_uri": (_P, [_P, _P]),
    "lilv_plugin_get_uri": (_P, [_P]),
    "lilv_plugin_get_name": (_P, [_P]),
    "lilv_plugin_get_library_uri": (_P, [_P]),
    "lilv_plugin_get_num_ports": (_U32, [_P]),
    "lilv_plugin_get_port_by_index": (_P, [_P, _U32]),
    "lilv_plugin_get_port_ranges_float": (None, [_P, _P, _P, _P]),
    "lilv_plugin_get_required_features": (_P, [_P]),
    "lilv_plugin_instantiate": (_P, [_P, ctypes.c_double, _P]),
    "lilv_instance_free": (None, [_P]),
    "lilv_nodes_free": (None, [_P]),
    "lilv_nodes_begin": (_P, [_P]),
    "lilv_nodes_next": (_P, [_P, _P]),
    "lilv_nodes_is_end": (_BOOL, [_P, _P]),
    "lilv_nodes_get": (_P, [_P, _P]),
    "lilv_port_is_a": (_BOOL, [_P, _P, _P]),
    "lilv_port_supports_event": (_BOOL, [_P, _P, _P]),
    "lilv_port_get_symbol": (_P, [_P, _P]),
    "lilv_plugin_get_related": (_P, [_P, _P]),
    "lilv_world_load_resource": (ctypes.c_int, [_P, _P]),
    "lilv_world_get": (_P, [_P, _P, _P, _P]),
    "lilv_world_find_nodes": (_P, [_P, _P, _P, _P]),
    "lilv_world_ask": (_BOOL, [_P, _P, _P, _P]),
    "lilv_state_new_from_world": (_P, [_P, _P, _P]),
    "lilv_state_restore": (None, [_P, _P, _P, _P, _U32, _P]),
    "lilv_state_free": (None, [_P]),
}


class LilvApi(Protocol):
    """The liblilv 0.24 functions bound in _SIGNATURES; pointers are ints (None for NULL)."""

    def lilv_world_new(self) -> int | None: ...
    def lilv_world_free(self, world: int, /) -> None: ...
    def lilv_world_load_all(self, world: int, /) -> None: ...
    def lilv_world_get_all_plugins(self, world: int, /) -> int: ...
    def lilv_new_uri(self, world: int, uri: bytes, /) -> int | None: ...
    def lilv_node_free(self, node: int, /) -> None: ...
    def lilv_node_as_string(self, node: int, /) -> bytes: ...
    def lilv_plugins_begin(self, plugins: int, /) -> int | None: ...
    def lilv_plugins_next(self, plugins: int, iterator: int | None, /) -> int | None: ...
    def lilv_plugins_is_end(self, plugins: int, iterator: int | None, /) -> bool: ...
    def lilv_plugins_get(self, plugins: int, iterator: int | None, /) -> int: ...
    def lilv_plugins_get_by_uri(self, plugins: int, uri: int, /) -> int | None: ...
    def lilv_plugin_get_uri(self, plugin: int, /) -> int: ...
    def lilv_plugin_get_name(self, plugin: int, /) -> int | None: ...
    def lilv_plugin_get_library_uri(self, plugin: int, /) -> int | None: ...
    def lilv_plugin_get_num_ports(self, plugin: int, /) -> int: ...
    def lilv_plugin_get_port_by_index(self, plugin: int, index: int, /) -> int: ...
    def lilv_plugin_get_port_ranges_float(
        self, plugin: int, minimums: int | None, maximums: int | None, defaults: int | None, /
    ) -> None: ...
    def lilv_plugin_get_required_features(self, plugin: int, /) -> int | None: ...
    def lilv_plugin_instantiate(self, plugin: int, sample_rate: float, features: int, /) -> int | None: ...
    def lilv_instance_free(self, instance: int, /) -> None: ...
    def lilv_nodes_free(self, nodes: int, /) -> None: ...
    def lilv_nodes_begin(self, nodes: int, /) -> int | None: ...
    def lilv_nodes_next(self, nodes: int, iterator: int | None, /) -> int | None: ...
    def lilv_nodes_is_end(self, nodes: int, iterator: int | None, /) -> bool: ...
    def lilv_nodes_get(self, nodes: int, iterator: int | None, /) -> int: ...
    def lilv_port_is_a(self, plugin: int, port: int, port_class: int, /) -> bool: ...
    def lilv_port_supports_event(self, plugin: int, port: int, event_type: int, /) -> bool: ...
    def lilv_port_get_symbol(self, plugin: int, port: int, /) -> int: ...
    def lilv_plugin_get_related(self, plugin: int, resource_type: int | None, /) -> int | None: ...
    def lilv_world_load_resource(self, world: int, resource: int, /) -> int: ...
    def lilv_world_get(
        self, world: int, subject: int | None, predicate: int | None, object: int | None, /
    ) -> int | None: ...
    def lilv_world_find_nodes(
        self, world: int, subject: int | None, predicate: int | None, object: int | None, /
    ) -> int | None: ...
    def lilv_world_ask(self, world: int, subject: int | None, predicate: int | None, object: int | None, /) -> bool: ...
    def lilv_state_new_from_world(self, world: int, map: int, node: int, /) -> int | None: ...
    def lilv_state_restore(
        self, state: int, instance: int, set_value: int | None, user_data: int | None, flags: int, features: int, /
    ) -> None: ...
    def lilv_state_free(self, state: int, /) -> None: ...


@functools.cache
def load() -> LilvApi:
    """liblilv with argument and result types declared; OSError when the library is not installed."""
    lib = ctypes.CDLL(LIBRARY)
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return cast(LilvApi, lib)


# lv2core: a plugin's entry points, and the features a host offers at instantiation.
ConnectPort = ctypes.CFUNCTYPE(None, _P, _U32, _P)
HandleOnly = ctypes.CFUNCTYPE(None, _P)
Run = ctypes.CFUNCTYPE(None, _P, _U32)
ExtensionData = ctypes.CFUNCTYPE(_P, _S)


class Descriptor(ctypes.Structure):
    """LV2_Descriptor."""

    _fields_ = [
        ("URI", _S),
        ("instantiate", _P),
        ("connect_port", ConnectPort),
        ("activate", HandleOnly),
        ("run", Run),
        ("deactivate", HandleOnly),
        ("cleanup", HandleOnly),
        ("extension_data", ExtensionData),
    ]


class Instance(ctypes.Structure):
    """LilvInstance: its accessors are inline functions in lilv.h, so the host reads the structure itself."""

    _fields_ = [("descriptor", ctypes.POINTER(Descriptor)), ("handle", _P), ("pimpl", _P)]


class Feature(ctypes.Structure):
    """LV2_Feature."""

    _fields_ = [("URI", _S), ("data", _P)]


# urid: URIs as integers.
MapFunction = ctypes.CFUNCTYPE(_U32, _P, _S)
UnmapFunction = ctypes.CFUNCTYPE(_P, _P, _U32)  # returns a const char* the host keeps alive


class UridMap(ctypes.Structure):
    """LV2_URID_Map."""

    _fields_ = [("handle", _P), ("map", MapFunction)]


class UridUnmap(ctypes.Structure):
    """LV2_URID_Unmap."""

    _fields_ = [("handle", _P), ("unmap", UnmapFunction)]


# atom: a sequence is a header, then events, each an int64 frame time and an atom, padded to 8 bytes.
class Atom(ctypes.Structure):
    """LV2_Atom."""

    _fields_ = [("size", _U32), ("type", _U32)]


class SequenceHeader(ctypes.Structure):
    """LV2_Atom_Sequence without its events: the atom, then the body's time unit and padding."""

    _fields_ = [("atom", Atom), ("unit", _U32), ("pad", _U32)]


class EventHeader(ctypes.Structure):
    """LV2_Atom_Event without its body's data: the time in frames, then the body's atom header."""

    _fields_ = [("frames", ctypes.c_int64), ("body", Atom)]


# worker: a plugin asks for non-realtime work; the host runs it and hands back the responses.
WORKER_SUCCESS = 0
WORKER_ERR_NO_SPACE = 2
ScheduleWork = ctypes.CFUNCTYPE(ctypes.c_int, _P, _U32, _P)
Respond = ctypes.CFUNCTYPE(ctypes.c_int, _P, _U32, _P)
Work = ctypes.CFUNCTYPE(ctypes.c_int, _P, Respond, _P, _U32, _P)
WorkResponse = ctypes.CFUNCTYPE(ctypes.c_int, _P, _U32, _P)
EndRun = ctypes.CFUNCTYPE(ctypes.c_int, _P)


class WorkerSchedule(ctypes.Structure):
    """LV2_Worker_Schedule."""

    _fields_ = [("handle", _P), ("schedule_work", ScheduleWork)]


class WorkerInterface(ctypes.Structure):
    """LV2_Worker_Interface."""

    _fields_ = [("work", Work), ("work_response", WorkResponse), ("end_run", EndRun)]


# state: lilv hands a preset's port values to the host, by port symbol, through this callback.
SetPortValue = ctypes.CFUNCTYPE(None, _S, _P, _P, _U32, _U32)


# options: instance options, a list ended by an all-zero entry.
OPTIONS_INSTANCE = 0


class Option(ctypes.Structure):
    """LV2_Options_Option."""

    _fields_ = [
        ("context", ctypes.c_int),
        ("subject", _U32),
        ("key", _U32),
        ("size", _U32),
        ("type", _U32),
        ("value", _P),
    ]
