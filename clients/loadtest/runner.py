"""Drives a gateway (or Triton itself) with calls and times each one: a closed loop (N workers, each sending its
next call as its last one ends) or an open loop (calls arriving at a rate, Poisson or evenly spaced, each on its own),
for a duration or an exact number of calls, after a warmup whose calls are not counted; a sweep runs one level after
another. When a run ends its calls in flight are waited for; when it is stopped (Ctrl-C) or fails they are cancelled,
so the server is left with no work nobody waits for (the gateway passes a cancelled call's cancellation on to
Triton)."""

import asyncio
import random
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import grpc

from clients.client import AsyncMusicClient
from clients.loadtest.scenario import CallSpec, Payloads, Request
from clients.loadtest.stats import CallResult, Run, summarize
from dgxmusic.v1 import music_service_pb2 as pb

Arrivals = Literal["poisson", "constant"]
ARRIVALS: tuple[Arrivals, ...] = ("poisson", "constant")
# The code of an open-loop arrival the harness did not send: max_in_flight of its calls were running already, so
# the client, not the server, could not keep the rate (counted as an error, so that an SLO on errors sees it).
DROPPED = "DROPPED"
_TICK_SECONDS = 0.25


@dataclass(frozen=True)
class Load:
    """How calls arrive: ``concurrency`` workers in a closed loop; or, with ``rate`` set, an open loop of ``rate``
    calls a second (``arrivals``: Poisson or constant spacing) of which at most ``max_in_flight`` run at once."""

    concurrency: int = 1
    rate: float | None = None
    arrivals: Arrivals = "poisson"
    max_in_flight: int = 256

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_in_flight < 1:
            raise ValueError("concurrency and max_in_flight are at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate is a positive number of calls a second")

    @property
    def label(self) -> str:
        if self.rate is None:
            return f"concurrency {self.concurrency}"
        return f"rate {self.rate:g}/s {self.arrivals}"


@dataclass(frozen=True)
class Span:
    """How long a level runs: new calls are sent for ``duration`` seconds or until ``requests`` calls were sent
    (one of the two), after ``warmup`` seconds whose calls are not counted."""

    duration: float | None = None
    requests: int | None = None
    warmup: float = 0.0

    def __post_init__(self) -> None:
        if (self.duration is None) == (self.requests is None):
            raise ValueError("a run lasts a duration or a number of requests: one of the two")
        if (self.duration is not None and self.duration <= 0) or (self.requests is not None and self.requests < 1):
            raise ValueError("duration and requests are positive")
        if self.warmup < 0:
            raise ValueError("warmup is not negative")


@dataclass(frozen=True)
class Tally:
    """Where a level stands, for a live progress line: seconds since its measured part began (negative in the
    warmup), the calls counted so far and how many of them failed, and the calls running now."""

    label: str
    elapsed: float
    done: int
    errors: int
    in_flight: int


TickCallback = Callable[[Tally], None]


class Target(Protocol):
    """Where a run's calls go: the gateway (GatewayTarget), or Triton itself (clients.loadtest.triton_direct)."""

    async def songs(self, request: pb.GenerateMidiRequest) -> list[bytes]:
        """MIDI files for Render's calls, made before the run."""
        ...

    async def call(self, request: Request, origin: float) -> CallResult:
        """Sends one call and times it; ``origin`` is the monotonic time CallResult.started counts from."""
        ...


class GatewayTarget:
    """The gateway, through a client's channel (its deadline and metadata)."""

    def __init__(self, client: AsyncMusicClient) -> None:
        self.client = client

    async def songs(self, request: pb.GenerateMidiRequest) -> list[bytes]:
        return [song.midi for song in await self.client.generate_songs(request)]

    async def call(self, request: Request, origin: float) -> CallResult:
        return await timed_call(self.client, request, origin)


@dataclass(frozen=True)
class _Sent:
    """A call about to be sent, and whether it counts (sent after the warmup)."""

    request: Request
    counted: bool


class _Level:
    """One level of a run: sends calls as its Load says, times them, and keeps the counted ones."""

    def __init__(
        self,
        target: Target,
        payloads: Payloads,
        picks: Iterator[CallSpec],
        load: Load,
        span: Span,
        stopped: asyncio.Event,
    ) -> None:
        self.target = target
        self.payloads = payloads
        self.picks = picks
        self.load = load
        self.span = span
        self.stopped = stopped
        self.results: list[CallResult] = []
        self.in_flight: set[asyncio.Task[None]] = set()
        self.sent = 0  # counted calls sent
        self.made = 0  # every call made, the warmup's too: the n of its payload
        self.measured_from = 0.0

    async def run(self, on_tick: TickCallback | None) -> Run:
        self.measured_from = time.monotonic() + self.span.warmup
        ticker = asyncio.create_task(self._tick(on_tick)) if on_tick is not None else None
        try:
            if self.load.rate is None:
                await self._until_stopped(self._closed_loop())
            else:
                await self._until_stopped(self._open_loop(self.load.rate))
        finally:
            for task in [*self.in_flight, *([ticker] if ticker else [])]:
                task.cancel()
            await asyncio.gather(*self.in_flight, *([ticker] if ticker else []), return_exceptions=True)
        seconds = max(time.monotonic() - self.measured_from, 1e-9)
        label = self.load.label
        return Run(label, summarize(self.results, seconds, label), tuple(self.results))

    def tally(self) -> Tally:
        errors = sum(result.code != "OK" for result in self.results)
        elapsed = time.monotonic() - self.measured_from
        return Tally(self.load.label, elapsed, len(self.results), errors, len(self.in_flight))

    async def _until_stopped(self, sending: Coroutine[Any, Any, None]) -> None:
        """Runs `sending` to its end, or until the run is stopped (then its calls are cancelled by run())."""
        work = asyncio.create_task(sending)
        stop = asyncio.create_task(self.stopped.wait())
        try:
            await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, stop):
                task.cancel()
            with suppress(asyncio.CancelledError):
                await work
            await asyncio.gather(stop, return_exceptions=True)

    async def _closed_loop(self) -> None:
        workers = [self._track(self._worker()) for _ in range(self.load.concurrency)]
        await asyncio.gather(*workers)

    async def _worker(self) -> None:
        while (sent := self._next()) is not None:
            await self._send(sent)

    async def _open_loop(self, rate: float) -> None:
        spacing = random.Random(self.payloads.scenario.seed)
        next_at = time.monotonic()
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), max(0.0, next_at - time.monotonic()))
            if self.stopped.is_set() or (sent := self._next()) is None:
                break
            if len(self.in_flight) >= self.load.max_in_flight:
                self._drop(sent)
            else:
                self._track(self._send(sent))
            next_at += spacing.expovariate(rate) if self.load.arrivals == "poisson" else 1 / rate
        await asyncio.gather(*self.in_flight)

    def _track(self, sending: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(sending)
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        return task

    def _next(self) -> _Sent | None:
        """The next call to send, or None when the level sends no more."""
        now = time.monotonic()
        counted = now >= self.measured_from
        if self.stopped.is_set():
            return None
        if counted and self.span.duration is not None and now >= self.measured_from + self.span.duration:
            return None
        if counted and self.span.requests is not None and self.sent >= self.span.requests:
            return None
        self.sent += counted
        request = self.payloads.request(next(self.picks), self.made)
        self.made += 1
        return _Sent(request, counted)

    async def _send(self, sent: _Sent) -> None:
        result = await self.target.call(sent.request, self.measured_from)
        if sent.counted:
            self.results.append(result)

    def _drop(self, sent: _Sent) -> None:
        if sent.counted:
            self.results.append(CallResult(time.monotonic() - self.measured_from, 0.0, None, DROPPED))

    async def _tick(self, on_tick: TickCallback) -> None:
        while True:
            on_tick(self.tally())
            await asyncio.sleep(_TICK_SECONDS)


async def timed_call(client: AsyncMusicClient, request: Request, origin: float) -> CallResult:
    """Sends one call on the client's channel (its deadline and metadata) and times it: to its last message or its
    error, and for a streaming RPC to its first message too. ``origin`` is the monotonic time `started` counts from.
    The raw stub is used so that the first message is seen as it arrives, and no answer is assembled (no audio
    decoded): the client's own work stays out of the figures."""
    method = getattr(client.stub, request.rpc)
    started = time.monotonic()
    first_event: float | None = None
    code = "OK"
    try:
        call = method(request.message, timeout=client.timeout, metadata=client.metadata)
        if request.streaming:
            async for _ in call:
                if first_event is None:
                    first_event = time.monotonic() - started
        else:
            await call
    except grpc.RpcError as exc:
        code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else "UNKNOWN"
    return CallResult(started - origin, time.monotonic() - started, first_event, code)


async def run_levels(
    target: Target,
    payloads: Payloads,
    loads: Sequence[Load],
    span: Span,
    *,
    stopped: asyncio.Event | None = None,
    on_tick: TickCallback | None = None,
) -> list[Run]:
    """Each load in turn (a sweep), each for `span`: one Run per level that began. What the calls need from the
    server (Render's songs) is fetched once first. Setting `stopped` ends the level running now at once, its calls
    in flight cancelled and left out, and the sweep with it."""
    stopped = stopped or asyncio.Event()
    await payloads.prepare(target.songs)
    picks = payloads.scenario.picks()
    runs = []
    for load in loads:
        if stopped.is_set():
            break
        runs.append(await _Level(target, payloads, picks, load, span, stopped).run(on_tick))
    return runs
