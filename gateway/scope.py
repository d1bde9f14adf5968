"""What every RPC shares: a request id, stage timings, the deadline passed on to Triton, one structlog line and
Prometheus metrics per request, and the translation of any failure into a gRPC status."""

import asyncio
import functools
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import grpc
import structlog
import structlog.contextvars

from dgxmusic.v1 import music_service_pb2 as pb
from gateway import metrics
from gateway.errors import ApiError

log = structlog.get_logger("gateway.rpc")

Request = TypeVar("Request")
Response = TypeVar("Response")

# "STAGE_COMPOSING" -> "composing", for logs and metric labels.
STAGE_NAMES = {number: name.removeprefix("STAGE_").lower() for name, number in pb.Stage.items()}


class Clock(Protocol):
    """What a call's stages read of its context: the time left (grpc.aio.ServicerContext, or a job's clock)."""

    def time_remaining(self) -> float | None: ...


@dataclass
class RequestScope:
    method: str
    context: Clock
    default_deadline: float
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.perf_counter)
    stage_seconds: dict[pb.Stage, float] = field(default_factory=dict)
    cache_hit: bool = False
    log_fields: dict[str, Any] = field(default_factory=dict)
    # The name of the API key the call came with; None without keys (the loopback default).
    key_name: str | None = None
    # Called once with the final status code, however the request ended (e.g. to close its job in Redis).
    on_finish: list[Callable[[grpc.StatusCode], None]] = field(default_factory=list)

    @contextmanager
    def stage(self, stage: pb.Stage) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - began
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + spent
            metrics.STAGE_SECONDS.labels(STAGE_NAMES[stage]).observe(spent)

    def time_left(self) -> float:
        """Seconds the client still waits; what Triton is given. Fails fast once the deadline has passed."""
        remaining = self.context.time_remaining()
        if remaining is None:
            return self.default_deadline
        if remaining <= 0:
            raise ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
        return float(remaining)

    def summary(self) -> pb.Summary:
        return pb.Summary(
            request_id=self.request_id,
            cache_hit=self.cache_hit,
            stage_timings=[pb.StageTiming(stage=s, seconds=t) for s, t in self.stage_seconds.items()],
            total_seconds=time.perf_counter() - self.started,
        )


def _request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex


class _Outcome:
    """Logs and counts a finished request once, whatever ended it."""

    def __init__(self, scope: RequestScope) -> None:
        self.scope = scope
        self.code = grpc.StatusCode.OK
        self.error: str | None = None

    def cancelled(self) -> None:
        """The client went away, or its deadline passed (gRPC ends the call the same way for both)."""
        remaining = self.scope.context.time_remaining()
        expired = remaining is not None and remaining <= 0
        self.code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED

    def finish(self) -> None:
        scope = self.scope
        for callback in scope.on_finish:
            callback(self.code)
        seconds = time.perf_counter() - scope.started
        metrics.REQUESTS.labels(scope.method, self.code.name).inc()
        metrics.REQUEST_SECONDS.labels(scope.method).observe(seconds)
        log.info(
            "rpc",
            method=scope.method,
            request_id=scope.request_id,
            code=self.code.name,
            error=self.error,
            cache_hit=scope.cache_hit,
            ms=round(seconds * 1000, 2),
            stages_ms={STAGE_NAMES[s]: round(t * 1000, 2) for s, t in scope.stage_seconds.items()},
            **scope.log_fields,
        )


async def _abort(context: grpc.aio.ServicerContext, outcome: _Outcome, exc: BaseException) -> None:
    if isinstance(exc, ApiError):
        error = exc
    else:
        log.exception("rpc_failed", request_id=outcome.scope.request_id)
        error = ApiError(grpc.StatusCode.INTERNAL, f"internal error (request id {outcome.scope.request_id})")
    outcome.code, outcome.error = error.code, error.message
    status = error.to_status()
    # The request id goes with the error too: it is what a user quotes when asking about a failure.
    request_id = (("x-request-id", outcome.scope.request_id),)
    await context.abort(status.code, status.details, tuple(status.trailing_metadata) + request_id)


class Admission:
    """How many MusicService calls run at once, in all and per caller (so that one client cannot take every slot).
    Over either limit a call gets RESOURCE_EXHAUSTED (logged and counted); health checks and reflection are never
    refused, as gRPC's own limit would refuse them too."""

    def __init__(self, limit: int, per_caller: int) -> None:
        self.limit = limit
        self.per_caller = per_caller
        self.running = 0
        self.by_caller: dict[str, int] = {}

    def enter(self, caller: str) -> None:
        if self.running >= self.limit:
            raise ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"the server is busy ({self.limit} calls running): retry later"
            )
        if self.by_caller.get(caller, 0) >= self.per_caller:
            reason = f"{self.per_caller} calls of yours are running, the most one caller may have: retry as one ends"
            raise ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, reason)
        self.running += 1
        self.by_caller[caller] = self.by_caller.get(caller, 0) + 1

    def leave(self, caller: str) -> None:
        self.running -= 1
        self.by_caller[caller] -= 1
        if not self.by_caller[caller]:
            del self.by_caller[caller]


def owner_tag(key_name: str | None) -> str:
    """Who owns what a caller makes (its jobs, its adapters): its API key's name, hashed, so that any name makes a tag
    (without keys, on the loopback default, every caller is the one owner "")."""
    return hashlib.sha256((key_name or "").encode()).hexdigest()[:32]


def caller_of(context: grpc.aio.ServicerContext, key_name: str | None) -> str:
    """Who makes a call, for its per-caller limit: its API key, or without keys the address it comes from."""
    if key_name is not None:
        return f"key {key_name}"
    peer = str(context.peer() or "")  # "ipv4:127.0.0.1:54321", "ipv6:[::1]:54321", "unix:..."
    return peer.rsplit(":", 1)[0] if peer.startswith(("ipv4:", "ipv6:")) else peer


async def _admit(service: Any, scope: RequestScope, context: grpc.aio.ServicerContext, *, quota: bool) -> str:
    """Lets a call in: its API key (gateway.auth; its name goes in the call's log line, never the key), then a slot
    (Admission), then - for a call that makes something - its key's daily quota; the caller it was counted for."""
    key_name = service.gate.admit(context.invocation_metadata() or ())
    if key_name is not None:
        scope.log_fields["api_key"] = key_name
        scope.key_name = key_name
    caller = caller_of(context, key_name)
    service.admission.enter(caller)
    if quota:
        try:
            await service.quota.spend(key_name)
        except ApiError:
            service.admission.leave(caller)
            raise
    return caller


def _begin(method: str, context: grpc.aio.ServicerContext, default_deadline: float) -> _Outcome:
    scope = RequestScope(method, context, default_deadline, request_id=_request_id(context))
    # Every log line written while this request runs (its own task) carries its id.
    structlog.contextvars.bind_contextvars(request_id=scope.request_id)
    metrics.IN_FLIGHT.labels(method).inc()
    return _Outcome(scope)


def unary_rpc(
    method: str,
    *,
    quota: bool = True,
) -> Callable[
    [Callable[[Any, Request, RequestScope], Awaitable[Response]]],
    Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]],
]:
    def decorate(
        handler: Callable[[Any, Request, RequestScope], Awaitable[Response]],
    ) -> Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]]:
        @functools.wraps(handler)
        async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext) -> Response:
            outcome = _begin(method, context, self.settings.default_deadline_seconds)
            context.set_trailing_metadata((("x-request-id", outcome.scope.request_id),))
            caller = None
            try:
                caller = await _admit(self, outcome.scope, context, quota=quota)
                return await handler(self, request, outcome.scope)
            except asyncio.CancelledError:
                outcome.cancelled()
                raise
            except Exception as exc:
                await _abort(context, outcome, exc)
                raise  # unreachable: abort raises
            finally:
                if caller is not None:
                    self.admission.leave(caller)
                metrics.IN_FLIGHT.labels(method).dec()
                outcome.finish()

        return wrapper

    return decorate


def streaming_rpc(
    method: str,
    *,
    quota: bool = True,
) -> Callable[
    [Callable[[Any, Request, RequestScope], AsyncIterator[Response]]],
    Callable[[Any, Request, grpc.aio.ServicerContext], AsyncIterator[Response]],
]:
    def decorate(
        handler: Callable[[Any, Request, RequestScope], AsyncIterator[Response]],
    ) -> Callable[[Any, Request, grpc.aio.ServicerContext], AsyncIterator[Response]]:
        @functools.wraps(handler)
        async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext) -> AsyncIterator[Response]:
            outcome = _begin(method, context, self.settings.default_deadline_seconds)
            caller = None
            try:
                caller = await _admit(self, outcome.scope, context, quota=quota)
                # Once the call is let in: a client holding the request id knows its call runs (a refused call gets
                # the id with its error).
                await context.send_initial_metadata((("x-request-id", outcome.scope.request_id),))
                async for response in handler(self, request, outcome.scope):
                    yield response
            except (asyncio.CancelledError, GeneratorExit):  # gRPC closes the generator of a call that went away
                outcome.cancelled()
                raise
            except Exception as exc:
                await _abort(context, outcome, exc)
            finally:
                if caller is not None:
                    self.admission.leave(caller)
                metrics.IN_FLIGHT.labels(method).dec()
                outcome.finish()

        return wrapper

    return decorate
