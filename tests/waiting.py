"""Waiting for what the system under test reaches in its own time - a server up, a model stub at work or gone, a
log line written - by polling for it rather than sleeping a guessed time. The timeout only bounds a failure."""

import os
import time
from collections.abc import Callable
from pathlib import Path


def wait_until(condition: Callable[[], object], what: str, *, timeout_s: float = 60.0, every_s: float = 0.05) -> None:
    """Returns once condition() is true; fails naming `what` if it is not within timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so within {timeout_s:g} s")
        time.sleep(every_s)


def _cpu_ticks(pid: int) -> int:
    """User + system clock ticks the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_until_working(pid: int, what: str, *, seconds: float = 0.1) -> None:
    """Returns once the process has used `seconds` of CPU since the call: it is at work (a model stub rendering)."""
    start = _cpu_ticks(pid)
    ticks = seconds * os.sysconf("SC_CLK_TCK")
    wait_until(lambda: _cpu_ticks(pid) - start >= ticks, what)


def is_gone(pid: int) -> bool:
    """Whether the process has exited (a zombie counts: it runs no more)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")
