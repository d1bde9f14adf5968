"""Bytes that are no message of the method's request type get INVALID_ARGUMENT naming "request" (gateway.wire),
on every kind of method: single and streamed requests, single and streamed responses. The gateway runs in process
on FakeModels and fakeredis (as in test_gateway_service.py), on a server of this test's own with the interceptor."""

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import fakeredis
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY

from clients.client import AsyncMusicClient, compose_request, song_options
from deploy.settings import Settings
from dgxmusic.v1 import jobs_pb2, jobs_pb2_grpc, music_service_pb2_grpc
from dgxmusic.v1 import music_service_pb2 as pb
from fake_models import FakeModels
from gateway.errors import ApiError
from gateway.server import build
from gateway.service import MusicService
from gateway.wire import MalformedRequests

SETTINGS = Settings(triton_url="fake-models:8001", metrics_port=0)
# Field 2^28-1 with wire type 7, which protobuf does not have: no message of any type decodes from this.
GARBAGE = b"\xff\xff\xff\xff\x7f"
SECRET = "letmein"


def identity(message: bytes) -> bytes:
    return message


def with_key(metadata: Iterable[tuple[str, Any]]) -> object:
    """Admits a call carrying the key, as gateway.auth.Gate.admit would."""
    if ("authorization", f"Bearer {SECRET}") not in list(metadata):
        raise ApiError(grpc.StatusCode.UNAUTHENTICATED, "send an API key")
    return "tester"


class Jobs(jobs_pb2_grpc.JobServiceServicer):  # type: ignore[misc]
    """A JobService that reads every message it is sent (a client stream) and answers how many there were."""

    async def SubmitJob(
        self, requests: AsyncIterator[jobs_pb2.SubmitJobRequest], context: grpc.aio.ServicerContext
    ) -> jobs_pb2.SubmitJobResponse:
        count = sum([1 async for _ in requests])
        return jobs_pb2.SubmitJobResponse(job=jobs_pb2.Job(id=f"job-of-{count}"))


@dataclass(frozen=True)
class Served:
    channel: grpc.aio.Channel
    client: AsyncMusicClient
    service: MusicService


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[Served]:
    models = FakeModels(SETTINGS)
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    service = (await build(SETTINGS, models, redis)).service
    server = grpc.aio.server(interceptors=[MalformedRequests(with_key)])
    music_service_pb2_grpc.add_MusicServiceServicer_to_server(service, server)
    jobs_pb2_grpc.add_JobServiceServicer_to_server(Jobs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    target = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(target)
    client = AsyncMusicClient(target, timeout=30, api_key=SECRET)
    try:
        yield Served(channel, client, service)
    finally:
        await client.close()
        await channel.close()
        await server.stop(grace=None)
        await models.close()
        await redis.aclose()


KEY = (("authorization", f"Bearer {SECRET}"),)


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields its BadRequest names."""
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries google.rpc details"
    fields = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields += [violation.field for violation in bad_request.field_violations]
    return fields


def refused_count(method: str, code: str = "INVALID_ARGUMENT") -> float:
    return REGISTRY.get_sample_value("dgxmusic_requests_total", {"method": method, "code": code}) or 0.0


async def test_a_single_request_that_is_no_message_is_invalid_argument(served: Served) -> None:
    before = refused_count("GenerateMidi")
    call = served.channel.unary_unary("/dgxmusic.v1.MusicService/GenerateMidi", request_serializer=identity)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(GARBAGE, metadata=KEY, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == ["request"]
    assert "not a valid message for GenerateMidi" in str(caught.value.details())
    assert refused_count("GenerateMidi") == before + 1


async def test_a_request_for_streamed_responses_that_is_no_message_is_invalid_argument(served: Served) -> None:
    call = served.channel.unary_stream("/dgxmusic.v1.MusicService/Compose", request_serializer=identity)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [response async for response in call(GARBAGE, metadata=KEY, timeout=10)]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == ["request"]


async def test_a_streamed_message_that_is_no_message_is_invalid_argument(served: Served) -> None:
    """In a bidirectional stream the gateway's RPC wrapper answers it (and logs the call, as any refused call)."""
    before = refused_count("Transcribe")
    call = served.channel.stream_stream("/dgxmusic.v1.MusicService/Transcribe", request_serializer=identity)

    async def messages() -> AsyncIterator[bytes]:
        yield GARBAGE

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [response async for response in call(messages(), metadata=KEY, timeout=10)]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == ["request"]
    assert refused_count("Transcribe") == before + 1


async def test_a_client_stream_with_one_bad_message_among_good_ones_is_invalid_argument(served: Served) -> None:
    call = served.channel.stream_unary("/dgxmusic.v1.JobService/SubmitJob", request_serializer=identity)
    good = jobs_pb2.SubmitJobRequest(audio_chunk={"data": b"\x00" * 16}).SerializeToString()

    async def messages() -> AsyncIterator[bytes]:
        yield good
        yield GARBAGE
        yield good

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(messages(), metadata=KEY, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == ["request"]


async def test_a_client_stream_of_good_messages_is_served(served: Served) -> None:
    call = served.channel.stream_unary(
        "/dgxmusic.v1.JobService/SubmitJob",
        request_serializer=jobs_pb2.SubmitJobRequest.SerializeToString,
        response_deserializer=jobs_pb2.SubmitJobResponse.FromString,
    )

    async def messages() -> AsyncIterator[jobs_pb2.SubmitJobRequest]:
        for _ in range(3):
            yield jobs_pb2.SubmitJobRequest(audio_chunk={"data": b"\x00" * 16})

    response = await call(messages(), metadata=KEY, timeout=10)
    assert response.job.id == "job-of-3"


async def test_a_caller_without_a_key_is_told_that_first(served: Served) -> None:
    call = served.channel.unary_unary("/dgxmusic.v1.MusicService/GenerateMidi", request_serializer=identity)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(GARBAGE, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_valid_requests_are_served_as_before(served: Served) -> None:
    """A single request, streamed responses, and a stream of requests (an upload) each pass the guard unchanged."""
    midi = await served.client.generate_midi("house 124", song_options(bars=1, seed=3))
    assert midi.midi.startswith(b"MThd")
    composed = await served.client.compose(compose_request("house 124", options=song_options(bars=1, seed=3)))
    assert composed.midi.startswith(b"MThd")
    heard = await served.client.transcribe((composed.mix, composed.sample_rate))
    assert heard.transcription.midi.startswith(b"MThd")


async def test_a_stream_the_client_leaves_ends_in_the_gateway_at_once(served: Served) -> None:
    """The guard's wrapper closes the handler's stream with its own: the call's slot is given back."""
    request = compose_request("house 124", options=song_options(bars=8, seed=9), bypass_cache=True)
    call = music_service_pb2_grpc.MusicServiceStub(served.channel).Compose(request, metadata=KEY)
    await anext(aiter(call))
    assert served.service.admission.running == 1, "the call runs on: its first event is progress"
    call.cancel()
    async with asyncio.timeout(10):
        while served.service.admission.running:  # noqa: ASYNC110 (the gateway offers nothing to wait on)
            await asyncio.sleep(0.01)


async def test_a_valid_message_with_a_bad_field_is_still_refused_naming_that_field(served: Served) -> None:
    call = served.channel.unary_unary(
        "/dgxmusic.v1.MusicService/GenerateMidi",
        request_serializer=pb.GenerateMidiRequest.SerializeToString,
        response_deserializer=pb.GenerateMidiResponse.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(pb.GenerateMidiRequest(prompt=""), metadata=KEY, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == ["prompt"]


async def test_a_method_no_service_has_stays_unimplemented(served: Served) -> None:
    call = served.channel.unary_unary("/dgxmusic.v1.MusicService/NoSuchMethod", request_serializer=identity)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(GARBAGE, metadata=KEY, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
