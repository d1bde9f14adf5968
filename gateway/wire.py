"""Requests whose bytes are no message of their method's request type get INVALID_ARGUMENT naming the field
"request" (a google.rpc BadRequest, as every other refusal), and are logged and counted.

grpc.aio decodes a request before any handler or interceptor code runs, and answers a request_deserializer that
raises with UNKNOWN ("Unexpected error"), or, for a client stream, raises the error into the handler reading the
stream, which the gateway's RPC wrappers then answer as a bug (INTERNAL). MalformedRequests, a server interceptor,
gives each dgxmusic.v1 method a deserializer that turns an undecodable message into a `Malformed` value instead, and
a handler that answers it: at once for a single request; for a client stream, when the handler reads that message,
as a MalformedRequest (an ApiError) raised from the stream, which the RPC wrappers (gateway.scope) answer and log
like any other refused call."""

import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog

from gateway import metrics
from gateway.errors import ApiError

log = structlog.get_logger(__name__)

# The services whose requests are checked: the gateway's own (health and reflection are gRPC's).
PACKAGE_PREFIX = "/dgxmusic.v1."
FIELD = "request"

Authorize = Callable[[Iterable[tuple[str, Any]]], object]


@dataclass(frozen=True)
class Malformed:
    """What an undecodable request message is deserialized to: why it could not be decoded."""

    reason: str


class MalformedRequest(ApiError):
    """A request message that is no message of the method's request type."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(
            grpc.StatusCode.INVALID_ARGUMENT, f"{FIELD}: not a valid message for {method}: {reason}", FIELD
        )


def _method_name(full_method: str) -> str:
    """ "/dgxmusic.v1.MusicService/Compose" -> "Compose", the RPC wrappers' label for it."""
    return full_method.rsplit("/", 1)[-1]


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decode(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except Exception as exc:  # DecodeError from protobuf; any failure means the bytes are not a message
            return Malformed(f"{type(exc).__name__}: {exc}")

    return decode


async def _answer(context: grpc.aio.ServicerContext, method: str, error: ApiError) -> None:
    """Ends the call with the error, as gateway.scope answers an ApiError, logged and counted under `method`."""
    request_id = uuid.uuid4().hex
    log.info("rpc", method=method, request_id=request_id, code=error.code.name, error=error.message, malformed=True)
    metrics.REQUESTS.labels(method, error.code.name).inc()
    status = error.to_status()
    await context.abort(status.code, status.details, (*status.trailing_metadata, ("x-request-id", request_id)))


class _Guard:
    """Wraps one method's behaviour so that a Malformed request is answered, never handed to it."""

    def __init__(self, method: str, authorize: Authorize | None) -> None:
        self.method = method
        self.authorize = authorize

    async def refuse(self, context: grpc.aio.ServicerContext, malformed: Malformed) -> None:
        """Refuses a malformed single request: a caller without a valid key is told that first, as it would be
        for any call."""
        error: ApiError = MalformedRequest(self.method, malformed.reason)
        if self.authorize is not None:
            try:
                self.authorize(context.invocation_metadata() or ())
            except ApiError as refused:
                error = refused
        await _answer(context, self.method, error)

    def unary_request(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                if isinstance(request, Malformed):
                    await self.refuse(context, request)
                # Closing this stream (the client went away) closes the handler's at once, as if unwrapped.
                async with contextlib.aclosing(behavior(request, context)) as responses:
                    async for response in responses:
                        yield response

            return stream

        async def single(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Malformed):
                await self.refuse(context, request)
            return await behavior(request, context)

        return single

    def stream_request(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        method = self.method

        async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, Malformed):
                    raise MalformedRequest(method, request.reason)
                yield request

        if inspect.isasyncgenfunction(behavior):

            async def stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                try:
                    async with contextlib.aclosing(behavior(checked(requests), context)) as responses:
                        async for response in responses:
                            yield response
                except MalformedRequest as exc:  # a handler that let it through unanswered
                    await _answer(context, method, exc)

            return stream

        async def single(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            try:
                return await behavior(checked(requests), context)
            except MalformedRequest as exc:
                await _answer(context, method, exc)

        return single


def guarded(handler: grpc.RpcMethodHandler, full_method: str, authorize: Authorize | None = None) -> Any:
    """The handler with a deserializer that cannot raise and a behaviour that answers what it could not decode."""
    guard = _Guard(_method_name(full_method), authorize)
    decode = _tolerant(handler.request_deserializer)
    serialize = handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(guard.unary_request(handler.unary_unary), decode, serialize)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(guard.unary_request(handler.unary_stream), decode, serialize)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(guard.stream_request(handler.stream_unary), decode, serialize)
    return grpc.stream_stream_rpc_method_handler(guard.stream_request(handler.stream_stream), decode, serialize)


class MalformedRequests(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Server interceptor: every dgxmusic.v1 method answers a request it cannot decode with INVALID_ARGUMENT.
    `authorize` (the gateway's Gate.admit) is asked first for a single request, so that a caller without a valid
    key learns nothing but that; a client stream's handler admits its caller before it reads a message."""

    def __init__(self, authorize: Authorize | None = None, prefix: str = PACKAGE_PREFIX) -> None:
        self.authorize = authorize
        self.prefix = prefix
        # Each method's handler as last wrapped, by method: wrapped once, not on every call.
        self._guarded: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = str(handler_call_details.method)
        if handler is None or handler.request_deserializer is None or not method.startswith(self.prefix):
            return handler
        known = self._guarded.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped: grpc.RpcMethodHandler = guarded(handler, method, self.authorize)
        self._guarded[method] = (handler, wrapped)
        return wrapped
