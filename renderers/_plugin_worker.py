"""A plugin worker process: `python -m renderers._plugin_worker`, started and spoken to by renderers.plugin_host.

It runs plugin code, so that a plugin that crashes or hangs takes down only this process: each request in a child
forked for it (_in_child), so the worker itself never runs a plugin. It answers requests
(renderers._plugin_protocol) from stdin on stdout, one at a time. Plugins print to stdout (ZynAddSubFX: "lo server
running on ..."), so the worker first moves the protocol to file descriptors of its own and points fds 0 and 1 at
/dev/null and stderr. It exits when its stdin closes, or when its parent is gone (a hung plugin never reads stdin
again). Only numpy and the light renderers modules load at start; a plugin format's host loads in each child.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from typing import IO, Any

import numpy as np

from dgxmusic.errors import MusicError
from renderers._plugin_protocol import (
    FAKETIME_VARIABLE,
    FROZEN_TIME,
    Failed,
    Rendered,
    RenderRequest,
    Scanned,
    ScanRequest,
    read_frame,
    write_frame,
)
from renderers.errors import RenderError
from renderers.plugins import open_renderer, scan_plugins

Audio = np.ndarray[Any, np.dtype[np.float32]]

_PR_SET_PDEATHSIG = 1
_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_PARENT_POLL_SECONDS = 1.0


def _work(request: object) -> tuple[object, Audio | None]:
    """The reply to a request, and the audio that follows it; what the request raised becomes a Failed reply."""
    try:
        if isinstance(request, ScanRequest):
            return Scanned(scan_plugins()), None
        if isinstance(request, RenderRequest):
            renderer = open_renderer(request.sound, request.sample_rate)
            audio = np.ascontiguousarray(renderer.render(request.events, request.seconds), np.float32)
            return Rendered(audio.shape[0]), audio
        raise TypeError(f"the plugin worker does not know the request {request!r}")
    except Exception as error:
        if not isinstance(error, MusicError):  # a bug, in the worker or a plugin: its traceback goes to the log
            traceback.print_exc()
        return Failed.of(error), None


def _send(stream: IO[bytes], reply: object, audio: Audio | None) -> None:
    write_frame(stream, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    if audio is not None:
        write_frame(stream, audio.reshape(-1).view(np.uint8).data)
    stream.flush()


def _in_child(request: object) -> tuple[object, Audio | None]:
    """_work(request) done in a child process forked for it, which exits after. Plugins keep state in their
    libraries' globals and read memory they never wrote (mda JX10 renders NaN or blows up once an earlier instance
    in the same process has run), so only a process that has run no plugin before renders the same samples for the
    same request; forking this worker, which never runs one itself, gives one in milliseconds."""
    results, child_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only this thread exists here
        os.close(results)
        try:
            _die_with_parent()
            _without_network()
            os.environ[FAKETIME_VARIABLE] = FROZEN_TIME  # read by libfaketime when the host preloaded it
            with os.fdopen(child_end, "wb") as stream:
                _send(stream, *_work(request))
        finally:
            os._exit(0)
    os.close(child_end)
    with os.fdopen(results, "rb") as stream:
        first = read_frame(stream)
        reply = pickle.loads(first) if first is not None else None
        audio_bytes = read_frame(stream) if isinstance(reply, Rendered) else None
    _, status = os.waitpid(pid, 0)
    if reply is None or (isinstance(reply, Rendered) and audio_bytes is None):
        how = (
            f"signal {signal.Signals(-os.waitstatus_to_exitcode(status)).name}"
            if os.WIFSIGNALED(status)
            else (f"exit code {os.waitstatus_to_exitcode(status)}")
        )
        return Failed.of(RenderError(f"the plugin's process died from {how}")), None
    if isinstance(reply, Rendered) and audio_bytes is not None:
        return reply, np.frombuffer(audio_bytes, dtype=np.float32).reshape(reply.frames, 2)
    return reply, None


def _die_with_parent() -> None:
    """The child is killed when the worker dies (the host kills a worker whose plugin hangs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the worker died before prctl took effect
        os._exit(1)


def _without_network() -> bool:
    """Plugins get no network: ZynAddSubFX opens OSC UDP ports on every interface at random numbers. A network
    namespace of its own has only a loopback that is down. False where namespaces are not allowed (an unprivileged
    container): the plugin then shares the host's network."""
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.unshare(_CLONE_NEWNET) == 0 or libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0)


def _warn_unless_isolated() -> None:
    """Says once, on stderr (Triton's log), when plugins will share the host's network."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _without_network() else 1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        print("plugin worker: no network namespace allowed here; plugins share the host's network", file=sys.stderr)


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
    _warn_unless_isolated()
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    while (payload := read_frame(requests)) is not None:
        _send(replies, *_in_child(pickle.loads(payload)))
    sys.exit(0)


if __name__ == "__main__":
    main()
