"""One caller cannot take every slot: calls are counted per caller (its API key, or without keys its address), and
past its share a caller's next call is refused while other callers still get in."""

import asyncio
from collections.abc import AsyncIterator

import fakeredis
import grpc
import pytest

from clients.client import AsyncMusicClient, MusicClient, song_options
from clients.errors import TooLargeError
from deploy.launcher import Stack
from deploy.settings import ApiKey, Settings
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.music_service_pb2_grpc import MusicServiceStub
from fake_models import FakeModels
from gateway.auth import key_hash, new_key
from gateway.server import build

GREEDY, MODEST = new_key(), new_key()


async def silent_upload(released: asyncio.Event) -> AsyncIterator[pb.TranscribeRequest]:
    """An upload that sends its header, then nothing until released: it holds its call's slot."""
    yield pb.TranscribeRequest(audio_header=audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV))
    await released.wait()


async def held_calls(stub: MusicServiceStub, count: int, released: asyncio.Event, key: str = "") -> list[object]:
    """`count` uploads that hold their slots; returned once the gateway has let each in."""
    metadata = (("authorization", f"Bearer {key}"),) if key else ()
    calls = [stub.Transcribe(silent_upload(released), timeout=120, metadata=metadata) for _ in range(count)]
    for call in calls:
        await call.initial_metadata()  # the gateway sends it once it has let the call in
    return calls


async def ended(calls: list[object]) -> None:
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError):
            async for _ in call:  # type: ignore[attr-defined]
                pass


async def test_a_caller_past_its_share_waits_while_another_gets_in() -> None:
    keys = {name: ApiKey(hash=key_hash(key), burst=100) for name, key in (("greedy", GREEDY), ("modest", MODEST))}
    settings = Settings(triton_url="fake-models:8001", metrics_port=0, max_concurrent_rpcs_per_caller=2, api_keys=keys)
    models, redis = FakeModels(settings), fakeredis.FakeAsyncRedis()
    gateway = await build(settings, models, redis)
    port = gateway.server.add_insecure_port("127.0.0.1:0")
    await gateway.server.start()
    released = asyncio.Event()
    try:
        greedy = AsyncMusicClient(f"127.0.0.1:{port}", timeout=30, api_key=GREEDY)
        modest = AsyncMusicClient(f"127.0.0.1:{port}", timeout=30, api_key=MODEST)
        calls = await held_calls(MusicServiceStub(greedy.channel), 2, released, GREEDY)
        with pytest.raises(TooLargeError, match="2 calls of yours are running"):
            await greedy.generate_midi("house 124", song_options(bars=1))
        assert (await modest.generate_midi("house 124", song_options(bars=1))).midi.startswith(b"MThd")
        released.set()
        await ended(calls)
        assert (await greedy.generate_midi("house 124", song_options(bars=1))).midi.startswith(b"MThd")
        await greedy.close()
        await modest.close()
    finally:
        released.set()
        await gateway.server.stop(grace=None)
        await models.close()
        await redis.aclose()


async def test_the_stack_keeps_a_share_of_its_slots_for_other_callers(stack: Stack) -> None:
    """Without keys the caller is its address: one address past its share (32 of 64 calls) waits."""
    share = stack.settings.max_concurrent_rpcs_per_caller
    released = asyncio.Event()
    client = AsyncMusicClient(stack.gateway_target, timeout=60)
    try:
        calls = await held_calls(MusicServiceStub(client.channel), share, released)
        with pytest.raises(TooLargeError, match=f"{share} calls of yours are running"):
            await client.generate_midi("house 124", song_options(bars=1))
        with MusicClient(stack.gateway_target, timeout=10) as health:
            assert health.health() == "SERVING", "health is never refused"
        released.set()
        await ended(calls)
        assert (await client.generate_midi("house 124", song_options(bars=1))).midi.startswith(b"MThd")
    finally:
        released.set()
        await client.close()
