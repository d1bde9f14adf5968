"""Builds and runs the gateway: MusicService, JobService and its job runner, LibraryService, grpc.health.v1, server
reflection and Prometheus metrics."""

import asyncio
import contextlib
import secrets
import signal
from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from deploy import triton
from deploy.settings import Settings
from dgxmusic.network import is_loopback
from dgxmusic.v1 import (
    jobs_pb2,
    jobs_pb2_grpc,
    library_pb2,
    library_pb2_grpc,
    music_service_pb2,
    music_service_pb2_grpc,
)
from gateway import logs
from gateway.artifacts import ArtifactStore, ContentStore
from gateway.cache import BlobLimits, RedisGuard, ResultCache, sweep_periodically
from gateway.errors import ApiError
from gateway.health import SERVICE_NAME, watch_models
from gateway.job_runner import JobRunner
from gateway.job_service import JobService
from gateway.jobs import JobStore
from gateway.library import Library
from gateway.library_service import LibraryService
from gateway.service import MusicService
from gateway.triton import Models, TritonModels
from gateway.wire import MalformedRequests

log = structlog.get_logger(__name__)

# Our own messages stay under 1 MiB chunks, but clients may send MIDI files of up to max_midi_bytes.
_MESSAGE_LIMIT = 16 * 1024 * 1024
_HEALTH_HEADROOM = 32


@dataclass(frozen=True)
class Gateway:
    """The gateway's gRPC server, not yet listening, its health, which watch_models drives, its service, and the
    runner of its jobs (not yet running: run it as a task)."""

    server: grpc.aio.Server
    health: health_aio.HealthServicer
    service: MusicService
    runner: JobRunner


async def build(
    settings: Settings, models: Models, redis: "aioredis.Redis", blocking_redis: "aioredis.Redis | None" = None
) -> Gateway:
    """MusicService on `models`, with its cache and jobs on `redis` (and the jobs' blocking reads on
    `blocking_redis`, a client without a socket timeout), health (NOT_SERVING until watch_models says otherwise)
    and reflection, in one server; serve() gives it Triton and Redis, the tests their fakes."""
    guard = RedisGuard(settings.redis_retry_seconds)
    if settings.cache_signing_key is None:  # `dgx-music serve` always sets one; a gateway run alone may not
        log.warning("cache_signing_key_unset", effect="results cached by earlier gateways are not served")
        signing_key = secrets.token_bytes(32)
    else:
        signing_key = settings.cache_signing_key.get_secret_value().encode()
    blobs = BlobLimits(
        ContentStore(settings.cache_dir), settings.cache_inline_max_bytes, settings.cache_store_max_bytes
    )
    cache = ResultCache(redis, settings.cache_ttl_seconds, guard, signing_key, blobs)
    library = Library(settings)
    service = MusicService(settings, models, cache, library)
    jobs = JobStore(
        redis,
        settings.job_retention_seconds,
        blocking=blocking_redis,
        block_seconds=2.0 if blocking_redis else settings.redis_timeout_seconds / 2,
        timeout_seconds=settings.redis_timeout_seconds,
    )
    artifacts = ArtifactStore(settings.artifact_dir)
    # MusicService admits its own calls (scope.Admission); this cap only guards the process, with room left for
    # health checks and reflection.
    server = grpc.aio.server(
        # A message that is not the method's (garbage bytes) gets INVALID_ARGUMENT, not UNKNOWN.
        interceptors=[MalformedRequests(service.gate.admit)],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs + _HEALTH_HEADROOM,
        options=[
            ("grpc.max_receive_message_length", _MESSAGE_LIMIT),
            ("grpc.max_send_message_length", _MESSAGE_LIMIT),
        ],
    )
    music_service_pb2_grpc.add_MusicServiceServicer_to_server(service, server)
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobService(settings, jobs, artifacts, service), server)
    library_pb2_grpc.add_LibraryServiceServicer_to_server(LibraryService(settings, library, service), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for name in ("", SERVICE_NAME):
        await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(
        [
            music_service_pb2.DESCRIPTOR.services_by_name["MusicService"].full_name,
            jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
            library_pb2.DESCRIPTOR.services_by_name["LibraryService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    return Gateway(server, health, service, JobRunner(settings, jobs, artifacts, service))


def refuse_open_network(settings: Settings) -> None:
    """A gateway a network can reach asks for API keys: never open by default."""
    if not is_loopback(settings.host) and not settings.api_keys:
        raise SystemExit(
            f"gateway: host {settings.host} is not a loopback address and no API keys are configured; make one with "
            "`dgx-music keys new NAME` and set DGXMUSIC_API_KEYS__NAME, or listen on 127.0.0.1"
        )


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS with the settings' certificate (None: plaintext); with tls_client_ca_file, mTLS: a client must show a
    certificate that CA signed."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    try:
        chain = settings.tls_cert_file.read_bytes()
        key = settings.tls_key_file.read_bytes()
        client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    except OSError as exc:
        raise SystemExit(f"gateway: cannot read a TLS file: {exc}") from exc
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=client_ca, require_client_auth=bool(client_ca))


async def serve(settings: Settings) -> None:
    logs.configure(settings)
    log.info("settings", **settings.masked())
    refuse_open_network(settings)
    credentials = server_credentials(settings)
    if settings.api_keys and credentials is None:
        log.warning("api_keys_without_tls", effect="keys travel in plaintext: set tls_cert_file and tls_key_file")
    models = TritonModels(
        settings.triton_url,
        triton.grpc_key_headers(settings),
        shared_memory_mode=settings.triton_shared_memory,
        shared_memory_bytes=settings.triton_shared_memory_bytes,
    )
    await models.start()
    redis, blocking_redis = (
        aioredis.Redis.from_url(
            settings.redis_url.get_secret_value(),
            password=settings.redis_password.get_secret_value() if settings.redis_password else None,
            socket_timeout=socket_timeout,
            socket_connect_timeout=settings.redis_timeout_seconds,
            # Once more on a fresh connection (a pooled one dies with a restarted Redis), then fail: the guards skip
            # a Redis that is away, and the jobs' runner and watchers ride it out.
            retry=Retry(NoBackoff(), retries=1),
        )
        for socket_timeout in (settings.redis_timeout_seconds, None)
    )
    gateway = await build(settings, models, redis, blocking_redis)
    server, health = gateway.server, gateway.health
    library = gateway.service.library
    if library.configured:  # migrations applied now; a library that is away is reached again at first use
        with contextlib.suppress(ApiError):
            await library.store()
    address = f"{settings.host}:{settings.grpc_port}"
    port = server.add_insecure_port(address) if credentials is None else server.add_secure_port(address, credentials)
    if port == 0:
        raise SystemExit(f"gateway: cannot listen on {address}")
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.host)
    await server.start()
    log.info(
        "listening",
        address=address,
        tls="mtls" if settings.tls_client_ca_file else "tls" if credentials else None,
        api_keys=sorted(settings.api_keys),
        metrics_port=settings.metrics_port or None,
    )

    watcher = asyncio.create_task(watch_models(health, models, settings.models, settings.health_poll_seconds))
    runner = asyncio.create_task(gateway.runner.run())
    sweeper = asyncio.create_task(sweep_periodically(gateway.service.results.cache, settings.cache_sweep_seconds))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()

    log.info("stopping")
    await health.enter_graceful_shutdown()
    for task in (watcher, runner, sweeper):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await gateway.runner.stop()
    await server.stop(grace=5)
    await library.close()
    await models.close()
    await redis.aclose()
    await blocking_redis.aclose()


def main() -> None:
    asyncio.run(serve(Settings()))
