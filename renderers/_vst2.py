"""The VST 2.4 C interface the VST2 host speaks, written out for ctypes.

A VST2 plugin is a shared library whose entry point ("VSTPluginMain", or "main" in older plugins) takes the host's
callback and returns an AEffect: the plugin's numbers (programs, audio inputs and outputs, flags) and its entry
points. Everything else goes through the dispatcher, by opcode. The values below are those of the VST 2.4 SDK's
aeffect.h / aeffectx.h, as every open host (Ardour, Carla, JUCE) re-declares them.
"""

from __future__ import annotations

import ctypes

_P = ctypes.c_void_p
_I32 = ctypes.c_int32
_INTPTR = ctypes.c_ssize_t

ENTRY_POINTS = ("VSTPluginMain", "main")
MAGIC = 0x56737450  # "VstP"
VERSION = 2400

# The dispatcher's and the host callback's signature: (effect, opcode, index, value, ptr, opt) -> intptr.
Dispatcher = ctypes.CFUNCTYPE(_INTPTR, _P, _I32, _I32, _INTPTR, _P, ctypes.c_float)
HostCallback = Dispatcher
ProcessReplacing = ctypes.CFUNCTYPE(None, _P, _P, _P, _I32)


class AEffect(ctypes.Structure):
    """AEffect, 64-bit layout."""

    _fields_ = [
        ("magic", _I32),
        ("dispatcher", Dispatcher),
        ("process", _P),  # deprecated accumulating process
        ("set_parameter", _P),
        ("get_parameter", _P),
        ("num_programs", _I32),
        ("num_params", _I32),
        ("num_inputs", _I32),
        ("num_outputs", _I32),
        ("flags", _I32),
        ("reserved1", _INTPTR),
        ("reserved2", _INTPTR),
        ("initial_delay", _I32),
        ("real_qualities", _I32),
        ("off_qualities", _I32),
        ("io_ratio", ctypes.c_float),
        ("object", _P),
        ("user", _P),
        ("unique_id", _I32),
        ("version", _I32),
        ("process_replacing", ProcessReplacing),
        ("process_double_replacing", _P),
        ("future", ctypes.c_char * 56),
    ]


FLAG_CAN_REPLACING = 1 << 4
FLAG_IS_SYNTH = 1 << 8

# Dispatcher opcodes (effXxx).
OPEN = 0
CLOSE = 1
SET_PROGRAM = 2
SET_SAMPLE_RATE = 10
SET_BLOCK_SIZE = 11
MAINS_CHANGED = 12
PROCESS_EVENTS = 25
GET_PROGRAM_NAME_INDEXED = 29
GET_PLUG_CATEGORY = 35
CATEGORY_SYNTH = 2
PROGRAM_NAME_BYTES = 256  # the SDK says 24 (kVstMaxProgNameLen); plugins write more, so the buffer is roomy

# Host callback opcodes (audioMasterXxx) this host answers; all others get 0.
HOST_VERSION = 1
HOST_GET_SAMPLE_RATE = 16
HOST_GET_BLOCK_SIZE = 17
HOST_GET_CURRENT_PROCESS_LEVEL = 23
PROCESS_LEVEL_OFFLINE = 4

MIDI_EVENT_TYPE = 1


class MidiEvent(ctypes.Structure):
    """VstMidiEvent."""

    _fields_ = [
        ("type", _I32),
        ("byte_size", _I32),
        ("delta_frames", _I32),
        ("flags", _I32),
        ("note_length", _I32),
        ("note_offset", _I32),
        ("midi_data", ctypes.c_ubyte * 4),
        ("detune", ctypes.c_byte),
        ("note_off_velocity", ctypes.c_ubyte),
        ("reserved1", ctypes.c_byte),
        ("reserved2", ctypes.c_byte),
    ]


def events_type(count: int) -> type[ctypes.Structure]:
    """VstEvents holding `count` event pointers (the SDK declares two, and hosts allocate as many as they pass)."""

    class Events(ctypes.Structure):
        _fields_ = [("num_events", _I32), ("reserved", _INTPTR), ("events", _P * max(count, 2))]

    return Events
