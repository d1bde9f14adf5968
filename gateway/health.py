"""grpc.health.v1: SERVING only while every model the gateway needs answers ready on Triton."""

import asyncio
import contextlib

import structlog
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from gateway.errors import ApiError
from gateway.triton import Models

log = structlog.get_logger(__name__)

SERVICE_NAME = "dgxmusic.v1.MusicService"


async def watch_models(servicer: health_aio.HealthServicer, models: Models, needed: list[str], interval: float) -> None:
    """Polls Triton forever, flipping the overall and the MusicService status when readiness changes."""
    serving: bool | None = None
    while True:
        ready = False
        with contextlib.suppress(ApiError):
            ready = await models.ready(needed)
        if ready != serving:
            status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
            for service in ("", SERVICE_NAME):
                await servicer.set(service, status)
            log.info("health", serving=ready, models=needed)
            serving = ready
        await asyncio.sleep(interval)
