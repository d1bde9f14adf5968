"""LibraryService through its real gRPC API, in process, with API keys, on FakeModels, a redis-server and a real
PostgreSQL of the module's own: results of calls and of jobs are kept as their caller's, callers never see each
other's items, and a library that is down fails no call but its own RPCs (UNAVAILABLE).
tests/test_stack_library.py runs the library through the real stack."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import psycopg
import pytest
import redis.asyncio as redis_asyncio
from prometheus_client import REGISTRY
from pydantic import SecretStr

from clients.client import AsyncMusicClient, compose_request, job_request, song_options
from clients.errors import DgxMusicError
from deploy.settings import ApiKey, Settings
from dgxmusic.v1 import library_pb2
from fake_models import FakeModels
from gateway.auth import key_hash
from gateway.server import Gateway, build

pytestmark = pytest.mark.stack  # it runs a redis-server and a PostgreSQL

ALICE, BOB = "dgxm_alice-library-key", "dgxm_bob-library-key"
KEYS = {"alice": ApiKey(hash=key_hash(ALICE), burst=1000), "bob": ApiKey(hash=key_hash(BOB), burst=1000)}


@dataclass(frozen=True)
class Running:
    gateway: Gateway
    alice: AsyncMusicClient
    bob: AsyncMusicClient


@contextlib.asynccontextmanager
async def gateway_on(settings: Settings, redis_port: int) -> AsyncIterator[Running]:
    models = FakeModels(settings)
    redis, blocking = (redis_asyncio.Redis(port=redis_port, socket_timeout=timeout) for timeout in (5.0, None))
    gateway = await build(settings, models, redis, blocking)
    target = f"127.0.0.1:{gateway.server.add_insecure_port('127.0.0.1:0')}"
    await gateway.server.start()
    runner = asyncio.create_task(gateway.runner.run())
    alice = AsyncMusicClient(target, timeout=60, api_key=ALICE)
    bob = AsyncMusicClient(target, timeout=60, api_key=BOB)
    try:
        yield Running(gateway, alice, bob)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await gateway.runner.stop()
        for client in (alice, bob):
            await client.close()
        await gateway.server.stop(grace=None)
        await gateway.service.library.close()
        await models.close()
        await redis.aclose()
        await blocking.aclose()


def settings_for(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        triton_url="fake-models:8001",
        metrics_port=0,
        api_keys=KEYS,
        artifact_dir=tmp_path / "jobs",
        library_dir=tmp_path / "library",
        library_database_url=SecretStr(database_url),
        redis_timeout_seconds=0.4,
        redis_retry_seconds=0.5,
    )


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> str:
    """A database of the module's own on the tests' PostgreSQL."""
    name = f"gateway_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres_url.replace("/postgres?", f"/{name}?")


@pytest.fixture(scope="module")
async def running(
    tmp_path_factory: pytest.TempPathFactory, redis_port: int, database_url: str
) -> AsyncIterator[Running]:
    async with gateway_on(settings_for(tmp_path_factory.mktemp("gateway"), database_url), redis_port) as running:
        yield running


async def test_results_of_calls_and_jobs_are_their_callers_alone(running: Running) -> None:
    alice, bob = running.alice, running.bob
    request = compose_request("house 124, A minor", options=song_options(bars=1, seed=3), bypass_cache=True)
    await alice.compose(request)
    job = await alice.submit_job(job_request(request))
    await alice.watch_job(job.id)
    await running.gateway.service.library.settled()  # written in the background
    kept, _ = await alice.list_items()
    assert [item.kind for item in kept] == ["compose", "compose"]
    assert all(item.genre == "house" and item.key == "A minor" for item in kept)
    assert (await bob.list_items())[0] == []
    assert (await bob.search_library(library_pb2.SearchLibraryRequest(query="house")))[0] == []
    theirs = kept[0].id
    for call in (
        bob.get_item(theirs),
        bob.get_item_file(theirs, "song.mid"),
        bob.similar_items(theirs),
        bob.tag_item(theirs, add=["mine"]),
        bob.pin_item(theirs),
        bob.delete_item(theirs),
    ):
        with pytest.raises(DgxMusicError) as refused:
            await call
        assert refused.value.code == grpc.StatusCode.NOT_FOUND
    assert (await alice.get_item(theirs)).tags == []  # untouched
    assert await alice.get_item_file(theirs, "song.mid")


async def test_a_library_that_is_down_fails_no_call_but_its_own(
    tmp_path: Path, redis_port: int, postgres_url: str
) -> None:
    nowhere = postgres_url.split("?")[0] + f"?host={tmp_path / 'no-postgres-here'}"
    async with gateway_on(settings_for(tmp_path, nowhere), redis_port) as running:
        song = await running.alice.compose(compose_request("trap 140", options=song_options(bars=1, seed=1)))
        assert song.midi
        with pytest.raises(DgxMusicError) as down:
            await running.alice.list_items()
        assert down.value.code == grpc.StatusCode.UNAVAILABLE
        await running.gateway.service.library.settled()


async def test_past_its_backlog_the_library_keeps_no_more_and_counts_them(
    tmp_path: Path, redis_port: int, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url).model_copy(update={"library_max_pending": 1})
    async with gateway_on(settings, redis_port) as busy:
        library = busy.gateway.service.library
        not_kept = REGISTRY.get_sample_value("dgxmusic_library_not_kept_total") or 0.0
        request = compose_request("lofi 80", options=song_options(bars=1, seed=9), bypass_cache=True)
        kept = len((await busy.alice.list_items(page_size=100))[0])
        library.linger_seconds = 600  # the first result waits to be written
        await busy.alice.compose(request)
        await busy.alice.compose(request)
        assert REGISTRY.get_sample_value("dgxmusic_library_not_kept_total") == not_kept + 1
        await library.settled()  # written now, without lingering
        assert len((await busy.alice.list_items(page_size=100))[0]) == kept + 1
