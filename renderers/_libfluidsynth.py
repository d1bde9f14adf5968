"""Typed ctypes bindings to the few libfluidsynth functions the renderer calls.

pyfluidsynth 1.4.0 only finds the library for us: its Synth class prints errors instead of raising, offers
16-bit output only, and crashes on use after delete. Calling the C API directly lets us write float samples,
check every return code and own each pointer's lifetime. Loaded on first use, so parsing MIDI needs no
libfluidsynth.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Protocol, cast

FLUID_OK = 0
FLUID_FAILED = -1

_P = ctypes.c_void_p
_I = ctypes.c_int

_SIGNATURES: dict[str, tuple[type | None, list[type]]] = {
    "new_fluid_settings": (_P, []),
    "delete_fluid_settings": (None, [_P]),
    "fluid_settings_setnum": (_I, [_P, ctypes.c_char_p, ctypes.c_double]),
    "fluid_settings_setint": (_I, [_P, ctypes.c_char_p, _I]),
    "new_fluid_synth": (_P, [_P]),
    "delete_fluid_synth": (None, [_P]),
    "fluid_synth_sfload": (_I, [_P, ctypes.c_char_p, _I]),
    "fluid_synth_write_float": (_I, [_P, _I, _P, _I, _I, _P, _I, _I]),
    "fluid_synth_noteon": (_I, [_P, _I, _I, _I]),
    "fluid_synth_noteoff": (_I, [_P, _I, _I]),
    "fluid_synth_cc": (_I, [_P, _I, _I, _I]),
    "fluid_synth_program_change": (_I, [_P, _I, _I]),
    "fluid_synth_pitch_bend": (_I, [_P, _I, _I]),
    "fluid_synth_channel_pressure": (_I, [_P, _I, _I]),
    "fluid_synth_key_pressure": (_I, [_P, _I, _I, _I]),
}


class FluidSynthApi(Protocol):
    """The libfluidsynth 2.x functions bound in _SIGNATURES; pointers are ints (None for NULL)."""

    def new_fluid_settings(self) -> int | None: ...
    def delete_fluid_settings(self, settings: int, /) -> None: ...
    def fluid_settings_setnum(self, settings: int, name: bytes, value: float, /) -> int: ...
    def fluid_settings_setint(self, settings: int, name: bytes, value: int, /) -> int: ...
    def new_fluid_synth(self, settings: int, /) -> int | None: ...
    def delete_fluid_synth(self, synth: int, /) -> None: ...
    def fluid_synth_sfload(self, synth: int, filename: bytes, reset_presets: int, /) -> int: ...
    def fluid_synth_write_float(
        self, synth: int, frames: int, left: int, loff: int, lincr: int, right: int, roff: int, rincr: int, /
    ) -> int: ...
    def fluid_synth_noteon(self, synth: int, chan: int, key: int, vel: int, /) -> int: ...
    def fluid_synth_noteoff(self, synth: int, chan: int, key: int, /) -> int: ...
    def fluid_synth_cc(self, synth: int, chan: int, num: int, val: int, /) -> int: ...
    def fluid_synth_program_change(self, synth: int, chan: int, program: int, /) -> int: ...
    def fluid_synth_pitch_bend(self, synth: int, chan: int, val: int, /) -> int: ...
    def fluid_synth_channel_pressure(self, synth: int, chan: int, val: int, /) -> int: ...
    def fluid_synth_key_pressure(self, synth: int, chan: int, key: int, val: int, /) -> int: ...


@functools.cache
def load() -> FluidSynthApi:
    """libfluidsynth, found the way pyfluidsynth finds it, with argument and result types declared."""
    import fluidsynth  # pyfluidsynth: locates the shared library when imported

    lib = ctypes.CDLL(fluidsynth.lib)
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return cast(FluidSynthApi, lib)
