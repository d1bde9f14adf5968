"""Plugin renders in worker processes, so that a plugin that segfaults, hangs or renders NaN fails only its track,
with PluginFailed, and never the process that asked: the Triton fluidsynth model's Python stub is not restarted
when a plugin kills it, and its model would then fail every request.

`PluginHost` keeps a few long-lived workers (`python -m renderers._plugin_worker`), each rendering one track at a
time in a child it forks for that render (a plugin never sees another instance's leftovers). A worker that crashed,
or was killed because its render ran past its time, is started afresh for the next render.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pickle
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import IO

import numpy as np

import dgxmusic
from dgxmusic.errors import Cancelled, MusicError
from renderers._plugin_protocol import (
    FAKETIME_VARIABLE,
    FRAME_HEADER,
    Failed,
    Rendered,
    RenderRequest,
    Scanned,
    ScanRequest,
)
from renderers.errors import PluginFailed, PluginLoadError, RenderError
from renderers.fluidsynth import Audio, check_sample_rate
from renderers.midi import MidiEvent
from renderers.plugins import PluginInfo, PluginSound

DEFAULT_WORKERS = 2
DEFAULT_RENDER_TIMEOUT_SECONDS = 120.0
WORKER_MODULE = "renderers._plugin_worker"
# How long a worker told to stop (its stdin closed) may take to exit before it is killed.
_STOP_GRACE_SECONDS = 2.0
# How long a worker that closed its stdout may take to exit, so that its exit status can be told.
_DEATH_GRACE_SECONDS = 2.0
_CHANNELS = 2


def worker_python() -> str:
    """The interpreter to start workers with: this process's own, sys.executable, when it is a Python. Inside
    Triton's Python stub sys.executable names the stub's binary (or nothing); there the Python the stub embeds is
    found in its installation, <sys.prefix>/bin/python3.X or python3 (the stub embeds the first python3 on its PATH,
    the project's venv, so sys.prefix is the venv)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    installed = [
        os.path.join(prefix, "bin", name) for prefix in (sys.prefix, sys.exec_prefix) for name in (version, "python3")
    ]
    for candidate in (sys.executable, *installed):
        if candidate and os.path.basename(candidate).startswith("python") and os.access(candidate, os.X_OK):
            return candidate
    raise PluginLoadError(f"no Python interpreter to run plugin workers with (looked for {', '.join(installed)})")


def worker_environment() -> dict[str, str]:
    """This process's environment, with PYTHONPATH: the roots it imports renderers and dgxmusic from, then its
    sys.path. The worker then imports the same code, though Triton's stub runs isolated (it ignores PYTHONPATH) and
    an editable install finds packages through .pth hooks that a PYTHONPATH entry does not run. With libfaketime
    preloaded (not faking until a render's child sets FAKETIME), plugins can be shown a clock that stands still."""
    roots = [os.path.dirname(os.path.dirname(os.path.abspath(module))) for module in (__file__, dgxmusic.__file__)]
    paths = [*roots, *(os.path.abspath(entry or os.curdir) for entry in sys.path)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    environment.pop(FAKETIME_VARIABLE, None)
    if (faketime := faketime_library()) is not None:
        preloaded = environment.get("LD_PRELOAD", "")
        environment["LD_PRELOAD"] = f"{faketime} {preloaded}".strip()
        environment["FAKETIME_NO_CACHE"] = "1"  # it reads FAKETIME at each call, so a child can set it
    return environment


def faketime_library() -> str | None:
    """Debian's libfaketime, when installed: setBfree seeds its key clicks from time(), so only a clock that stands
    still makes its renders repeat."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


class _NoAnswer(Exception):
    """The worker did not answer in time."""


class _WorkerDied(Exception):
    """The worker's pipe closed; the message says how it ended."""


class _WorkerProcess:
    """One worker process, started when first needed and again after it died or was killed. One thread at a time
    exchanges with it (the host hands it out); stop() may come from any thread. The pipes are closed by whichever
    thread is last to use them, so no thread ever reads or writes a file descriptor another one closed."""

    def __init__(self, command: Sequence[str]) -> None:
        self._command = list(command)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._exchanging = False
        self._retired = False

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> None:
        """Start the process unless it runs (or the worker is retired). It boots while the caller goes on."""
        with self._lock:
            self._start()

    def _start(self) -> subprocess.Popen[bytes] | None:
        if self._process is None and not self._retired:
            self._process = subprocess.Popen(
                self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=worker_environment()
            )
        return self._process

    def stop(self, *, kill: bool, retire: bool = False) -> None:
        """End the process: at once (kill, or while an exchange is under way), or by closing its stdin and killing
        it only if it does not exit. A retired worker starts no process again."""
        with self._lock:
            process, self._process = self._process, None
            self._retired = self._retired or retire
            exchanging = self._exchanging
        if process is None:
            return
        if kill or exchanging:
            process.kill()
        else:
            _close_quietly(process.stdin)
        try:
            process.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not exchanging:
            _close_pipes(process)

    def exchange(self, request: object, timeout_seconds: float) -> tuple[object, Audio | None]:
        """The worker's reply to `request`, and the audio that follows a Rendered reply. Raises _NoAnswer past
        `timeout_seconds` (the worker still runs: the caller kills it) and _WorkerDied when its pipe closes."""
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            process = self._start()
            if process is None:
                raise _WorkerDied("was stopped")
            self._exchanging = True
        try:
            return self._exchange(process, payload, time.monotonic() + timeout_seconds)
        finally:
            with self._lock:
                self._exchanging = False
                stopped = self._process is not process
            if stopped:
                _close_pipes(process)

    def _exchange(self, process: subprocess.Popen[bytes], payload: bytes, until: float) -> tuple[object, Audio | None]:
        assert process.stdin is not None
        try:
            _write_all(process.stdin.fileno(), FRAME_HEADER.pack(len(payload)) + payload)
        except OSError:
            raise _WorkerDied(self._ending(process)) from None
        reply = pickle.loads(self._read_frame(process, until))
        if not isinstance(reply, Rendered):
            return reply, None
        audio = np.empty((reply.frames, _CHANNELS), dtype=np.float32)
        size = self._read_frame_size(process, until)
        if size != audio.nbytes:
            raise _WorkerDied(f"sent {size} bytes of audio for {reply.frames} frames")
        self._read_into(process, audio.reshape(-1).view(np.uint8).data, until)  # straight into the array
        return reply, audio

    def _read_frame(self, process: subprocess.Popen[bytes], until: float) -> bytes:
        payload = bytearray(self._read_frame_size(process, until))
        self._read_into(process, memoryview(payload), until)
        return bytes(payload)

    def _read_frame_size(self, process: subprocess.Popen[bytes], until: float) -> int:
        header = bytearray(FRAME_HEADER.size)
        self._read_into(process, memoryview(header), until)
        size: int = FRAME_HEADER.unpack(header)[0]
        return size

    def _read_into(self, process: subprocess.Popen[bytes], view: memoryview, until: float) -> None:
        assert process.stdout is not None
        stream = process.stdout
        poller = select.poll()  # not select.select: a Triton process may hold file descriptors past 1024
        poller.register(stream.fileno(), select.POLLIN)
        done = 0
        while done < len(view):
            left = until - time.monotonic()
            if left <= 0 or not poller.poll(max(1, round(left * 1000))):
                raise _NoAnswer()
            read = stream.readinto(view[done:])  # type: ignore[attr-defined]  # unbuffered: a FileIO
            if not read:
                raise _WorkerDied(self._ending(process))
            done += read

    @staticmethod
    def _ending(process: subprocess.Popen[bytes]) -> str:
        """How the process ended, in words."""
        try:
            code = process.wait(timeout=_DEATH_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            return "closed its pipe"
        if code < 0:
            try:
                return f"died from signal {signal.Signals(-code).name}"
            except ValueError:
                return f"died from signal {-code}"
        return f"exited with code {code}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    _close_quietly(process.stdin)
    _close_quietly(process.stdout)


def _close_quietly(stream: IO[bytes] | None) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        with contextlib.suppress(OSError):  # a pipe whose last write cannot flush: the worker is gone
            close()


def _stop_workers(workers: Sequence[_WorkerProcess]) -> None:
    for worker in workers:
        worker.stop(kill=False, retire=True)


def describe(sound: PluginSound, label: str = "") -> str:
    """A sound in words, its track first when there is one: "track 'piano': lv2 plugin <uri> (preset 'Soft')"."""
    preset = f" (preset {sound.preset!r})" if sound.preset else ""
    track = f"track {label!r}: " if label else ""
    return f"{track}{sound.format} plugin {sound.locator}{preset}"


class PluginHost:
    """Renders plugin sounds in `workers` worker processes, started with `python` (default: worker_python()).
    Thread-safe: each render takes a free worker and waits for one while all are busy. A render that takes longer
    than `render_timeout_seconds` has its worker killed. Close it (or use it as a context manager) to stop the
    workers; the ones left running stop when the host is garbage collected or the interpreter exits, and a worker
    whose parent dies ends itself."""

    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        python: str | None = None,
        render_timeout_seconds: float = DEFAULT_RENDER_TIMEOUT_SECONDS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a plugin host needs at least one worker, not {workers}")
        if not render_timeout_seconds > 0:
            raise ValueError(f"render_timeout_seconds must be > 0, not {render_timeout_seconds!r}")
        self.render_timeout_seconds = render_timeout_seconds
        command = [python or worker_python(), "-m", WORKER_MODULE]
        self._workers = [_WorkerProcess(command) for _ in range(workers)]
        self._free: queue.LifoQueue[_WorkerProcess] = queue.LifoQueue()  # the last used first: the others may idle
        for worker in self._workers:
            self._free.put(worker)
        self._closed = False
        self._finalizer = weakref.finalize(self, _stop_workers, self._workers)

    def __enter__(self) -> PluginHost:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the workers running now."""
        return [pid for worker in self._workers if (pid := worker.pid) is not None]

    def scan(self) -> list[PluginInfo]:
        """Every installed instrument plugin (renderers.plugins.scan_plugins, run in a worker)."""
        reply, _ = self._exchange(ScanRequest(), "the plugin scan", None)
        if not isinstance(reply, Scanned):
            raise RenderError(f"the plugin scan got an answer it did not ask for: {reply!r}")
        return reply.plugins

    def render(
        self,
        sound: PluginSound,
        events: Sequence[MidiEvent],
        sample_rate: int,
        seconds: float,
        *,
        deadline: float | None = None,
        label: str = "",
    ) -> Audio:
        """`seconds` of float32 stereo [frames, 2] of `sound` playing `events` from time 0. `label` (a track's name)
        names it in errors. `deadline` is a time.time() value: past it, waiting for a worker or for the render
        raises dgxmusic.errors.Cancelled (the caller no longer waits), as the Triton models treat a request's
        deadline. Raises PluginNotFound and PluginLoadError as the plugin's renderer does, and PluginFailed when the
        plugin crashes its worker, does not finish within render_timeout_seconds, or renders samples that are not
        finite."""
        check_sample_rate(sample_rate)
        if not (seconds >= 0.0 and np.isfinite(seconds)):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        what = describe(sound, label)
        request = RenderRequest(sound, tuple(events), sample_rate, seconds)
        _, audio = self._exchange(request, what, deadline)
        if audio is None:
            raise RenderError(f"{what}: the plugin worker answered without audio")
        if not np.all(np.isfinite(audio)):
            raise PluginFailed(f"{what} produced samples that are not finite (NaN or infinity)")
        return audio

    def close(self) -> None:
        """Stop the workers (a render in progress fails with PluginFailed). Later renders raise RenderError."""
        self._closed = True
        self._finalizer()

    def _exchange(self, request: object, what: str, deadline: float | None) -> tuple[object, Audio | None]:
        worker = self._take_worker(what, deadline)
        try:
            timeout, cut_by_deadline = self._time_left(what, deadline)
            try:
                reply, audio = worker.exchange(request, timeout)
            except _NoAnswer:
                self._restart(worker)
                if cut_by_deadline:
                    raise Cancelled(f"{what}: the deadline passed before the plugin finished") from None
                raise PluginFailed(f"{what} did not finish within {timeout:g} s") from None
            except _WorkerDied as died:
                self._restart(worker)
                raise PluginFailed(f"{what}: the plugin worker {died}") from None
        finally:
            self._free.put(worker)
        if isinstance(reply, Failed):
            raise _raised_in_worker(reply, what)
        return reply, audio

    def _take_worker(self, what: str, deadline: float | None) -> _WorkerProcess:
        if self._closed:
            raise RenderError("the plugin host is closed")
        wait = None if deadline is None else deadline - time.time()
        if wait is not None and wait <= 0:
            raise Cancelled(f"{what}: the deadline passed before the plugin started")
        try:
            worker = self._free.get(timeout=wait)
        except queue.Empty:
            raise Cancelled(f"{what}: the deadline passed while it waited for a plugin worker") from None
        if self._closed:
            self._free.put(worker)
            raise RenderError("the plugin host is closed")
        return worker

    def _time_left(self, what: str, deadline: float | None) -> tuple[float, bool]:
        """The seconds a render may take, and whether the caller's deadline (not the host's timeout) set them."""
        if deadline is None:
            return self.render_timeout_seconds, False
        left = deadline - time.time()
        if left <= 0:
            raise Cancelled(f"{what}: the deadline passed before the plugin started")
        return (left, True) if left < self.render_timeout_seconds else (self.render_timeout_seconds, False)

    def _restart(self, worker: _WorkerProcess) -> None:
        """Kill the worker, and start the next one now unless the host is closed: it boots while the failure is
        reported."""
        worker.stop(kill=True)
        if not self._closed:
            worker.start()


def _raised_in_worker(failed: Failed, what: str) -> Exception:
    """The worker's exception, as the same class when it is one the renderers raise on purpose (PluginNotFound
    keeps its field); a plain RenderError, or any other exception, from a plugin's code becomes PluginFailed."""
    module = sys.modules.get(failed.module)
    kind = getattr(module, failed.name, None) if module is not None else None
    if isinstance(kind, type) and issubclass(kind, MusicError) and kind is not RenderError:
        error = kind.__new__(kind)
        error.args = failed.args
        error.__dict__.update(failed.attributes)
        return error
    message = failed.args[0] if len(failed.args) == 1 else ", ".join(map(str, failed.args))
    return PluginFailed(f"{what}: {failed.name}: {message}" if kind is not RenderError else f"{what}: {message}")
