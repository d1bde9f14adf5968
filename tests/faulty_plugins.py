"""LV2 instruments that fail on purpose (tests/plugins/faulty.c), built for a test session: one segfaults at its
first note-on, one never returns from run(), one renders NaN. Tests put the directory holding the built bundle on
LV2_PATH, ahead of lilv's default directories, so that plugin workers (and the stack's Triton) find them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from renderers.plugins import PluginFormat, PluginSound

SOURCE = Path(__file__).resolve().parent / "plugins" / "faulty.c"
BUNDLE = SOURCE.parent / "faulty.lv2"  # its TTL; the library is built next to a copy of it
CRASH = PluginSound(PluginFormat.LV2, "urn:dgx-music:test:crash")
HANG = PluginSound(PluginFormat.LV2, "urn:dgx-music:test:hang")
NAN = PluginSound(PluginFormat.LV2, "urn:dgx-music:test:nan")
# The catalog's names for them ("lv2:" and the slug of each doap:name in faulty.ttl).
CRASH_NAME = "lv2:dgx-music-test-crash"
HANG_NAME = "lv2:dgx-music-test-hang"
NAN_NAME = "lv2:dgx-music-test-nan"
# Where lilv looks when LV2_PATH is not set (Debian's liblilv-0.so.0).
LILV_DEFAULT_LV2_PATH = "~/.lv2:/usr/lib/x86_64-linux-gnu/lv2:/usr/lib/lv2:/usr/local/lib/lv2"
NO_COMPILER = "no C compiler (cc) to build the faulty test plugins (tests/plugins/faulty.c) with"


def compiler() -> str | None:
    """The C compiler to build the plugins with, or None where there is none."""
    return shutil.which("cc")


def build(directory: Path) -> Path:
    """Build the bundle into `directory` (as directory/faulty.lv2) and return `directory`, the one to put on
    LV2_PATH. Raises RuntimeError without a C compiler, or with the compiler's message when it fails."""
    cc = compiler()
    if cc is None:
        raise RuntimeError(NO_COMPILER)
    bundle = directory / BUNDLE.name
    shutil.copytree(BUNDLE, bundle)
    command = [cc, "-shared", "-fPIC", "-O0", "-o", str(bundle / "faulty.so"), str(SOURCE)]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    if built.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{built.stderr}")
    return directory


def lv2_path_with(directory: Path) -> str:
    """LV2_PATH with `directory` first, then what LV2_PATH names now, or lilv's default directories."""
    return os.pathsep.join([str(directory), os.environ.get("LV2_PATH") or LILV_DEFAULT_LV2_PATH])
