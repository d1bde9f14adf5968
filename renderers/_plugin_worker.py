"""A plugin worker process: `python -m renderers._plugin_worker`, started and spoken to by renderers.plugin_host.

It runs plugin code, so that a plugin that crashes or hangs takes down only this process. It answers requests
(renderers._plugin_protocol) from stdin on stdout, one at a time. Plugins print to stdout (ZynAddSubFX: "lo server
running on ..."), so the worker first moves the protocol to file descriptors of its own and points fds 0 and 1 at
/dev/null and stderr. It exits when its stdin closes, or when its parent is gone (a hung plugin never reads stdin
again). Only numpy and the light renderers modules load at start; a plugin format's host loads with its first sound.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import sys
import threading
import time
import traceback
from collections import OrderedDict
from typing import IO, Any

import numpy as np

from dgxmusic.errors import MusicError
from renderers._plugin_protocol import Failed, Rendered, RenderRequest, Scanned, ScanRequest, read_frame, write_frame
from renderers.plugins import PluginRenderer, PluginSound, open_renderer, scan_plugins

# Renderers kept open per worker, by (sound, sample rate): a plugin's library and instance setup are paid once.
CACHED_RENDERERS = 4
# Tests only: set (to anything) in a worker's environment, it makes the sounds whose locator is "test-fault:crash",
# "test-fault:hang" or "test-fault:nan" crash the worker (a real SIGSEGV), hang it, or render NaNs.
TEST_FAULTS_VARIABLE = "DGX_MUSIC_PLUGIN_WORKER_TEST_FAULTS"
TEST_FAULT_PREFIX = "test-fault:"
_PARENT_POLL_SECONDS = 1.0


class _Renderers:
    """The open renderers, the most recently used last; past CACHED_RENDERERS the least recently used is closed."""

    def __init__(self) -> None:
        self._open: OrderedDict[tuple[PluginSound, int], PluginRenderer] = OrderedDict()

    def render(self, request: RenderRequest) -> np.ndarray[Any, np.dtype[np.float32]]:
        key = (request.sound, request.sample_rate)
        renderer = self._open.pop(key, None) or open_renderer(request.sound, request.sample_rate)
        try:
            audio = renderer.render(request.events, request.seconds)
        except BaseException:
            renderer.close()  # a render that failed may leave its instance in any state
            raise
        self._open[key] = renderer
        while len(self._open) > CACHED_RENDERERS:
            self._open.popitem(last=False)[1].close()
        return audio


def _test_fault(sound: PluginSound, frames: int) -> np.ndarray[Any, np.dtype[np.float32]] | None:
    """What a test-fault sound does, in a worker whose environment allows test faults; None for other sounds."""
    if TEST_FAULTS_VARIABLE not in os.environ or not sound.locator.startswith(TEST_FAULT_PREFIX):
        return None
    fault = sound.locator.removeprefix(TEST_FAULT_PREFIX)
    if fault == "crash":
        ctypes.string_at(0)  # reads address 0: SIGSEGV, as a plugin's own bug would
    if fault == "hang":
        while True:
            time.sleep(60)
    if fault == "nan":
        return np.full((frames, 2), np.nan, dtype=np.float32)
    return None


def _answer(request: object, renderers: _Renderers, replies: IO[bytes]) -> None:
    audio: np.ndarray[Any, np.dtype[np.float32]] | None = None
    try:
        if isinstance(request, ScanRequest):
            reply: object = Scanned(scan_plugins())
        elif isinstance(request, RenderRequest):
            frames = round(request.seconds * request.sample_rate)
            faulty = _test_fault(request.sound, frames)
            audio = np.ascontiguousarray(faulty if faulty is not None else renderers.render(request), np.float32)
            reply = Rendered(audio.shape[0])
        else:
            raise TypeError(f"the plugin worker does not know the request {request!r}")
    except Exception as error:
        if not isinstance(error, MusicError):  # a bug, in the worker or a plugin: its traceback goes to the log
            traceback.print_exc()
        reply, audio = Failed.of(error), None
    write_frame(replies, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    if audio is not None:
        write_frame(replies, audio.reshape(-1).view(np.uint8).data)
    replies.flush()


def _exit_when_orphaned(parent: int) -> None:
    """A worker whose parent died (a killed Triton stub) ends itself, even while a plugin hangs its main thread."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)


def _private_protocol_streams() -> tuple[IO[bytes], IO[bytes]]:
    """stdin and stdout moved to fds of their own; fd 0 reads /dev/null and fd 1 writes to stderr, for plugins."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return requests, replies


def main() -> None:
    requests, replies = _private_protocol_streams()
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    renderers = _Renderers()
    while (payload := read_frame(requests)) is not None:
        _answer(pickle.loads(payload), renderers, replies)
    sys.exit(0)


if __name__ == "__main__":
    main()
