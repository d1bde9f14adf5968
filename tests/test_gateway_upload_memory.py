"""The memory uploads take in the gateway stays under max_upload_memory_bytes whatever clients send: an upload that
would take it past is refused (RESOURCE_EXHAUSTED, to retry), and a call gives its share back when it ends."""

import asyncio
from collections.abc import AsyncIterator

import fakeredis
import grpc
import numpy as np
import pytest

from clients.client import AsyncMusicClient
from clients.errors import TooLargeError
from deploy.settings import Settings
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1.music_service_pb2_grpc import MusicServiceStub
from fake_models import FakeModels, tone
from gateway.server import build
from waiting import wait_until

LIMIT = 1024 * 1024
DECLARED = 800_000


async def declared_then_silent(released: asyncio.Event) -> AsyncIterator[pb.TranscribeRequest]:
    """An upload that declares DECLARED bytes, then sends nothing until released."""
    header = audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV, total_bytes=DECLARED)
    yield pb.TranscribeRequest(audio_header=header)
    await released.wait()


async def test_uploads_past_the_gateways_memory_for_them_wait_their_turn() -> None:
    settings = Settings(triton_url="fake-models:8001", metrics_port=0, max_upload_memory_bytes=LIMIT)
    models, redis = FakeModels(settings), fakeredis.FakeAsyncRedis()
    gateway = await build(settings, models, redis)
    port = gateway.server.add_insecure_port("127.0.0.1:0")
    await gateway.server.start()
    client = AsyncMusicClient(f"127.0.0.1:{port}", timeout=60)
    released = asyncio.Event()
    memory = gateway.service.upload_memory
    try:
        first = MusicServiceStub(client.channel).Transcribe(declared_then_silent(released), timeout=60)
        await asyncio.to_thread(wait_until, lambda: memory.used == DECLARED, "the first upload's header was read")
        audio = (np.tile(tone(440.0, 1.0, 22050), (1, 2)), 22050)  # 176 kB as float32: it fits only alone
        with pytest.raises(TooLargeError, match=f"bytes of uploads and takes at most {LIMIT}: retry later"):
            await client.transcribe(audio)
        released.set()
        with pytest.raises(grpc.aio.AioRpcError):
            async for _ in first:
                pass
        await asyncio.to_thread(wait_until, lambda: memory.used == 0, "the ended call gave its share back")
        transcribed = await client.transcribe(audio)
        assert transcribed.transcription.notes
        assert memory.used == 0
    finally:
        released.set()
        await client.close()
        await gateway.server.stop(grace=None)
        await models.close()
        await redis.aclose()
