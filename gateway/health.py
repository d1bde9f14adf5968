"""grpc.health.v1: SERVING only while every model the gateway needs answers ready on Triton and none has a python
stub that died (gateway.canary) or is being reloaded."""

import asyncio
import contextlib
import time

import structlog
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from gateway.canary import StubCanary, canary_for
from gateway.errors import ApiError
from gateway.triton import Models

log = structlog.get_logger(__name__)

SERVICE_NAME = "dgxmusic.v1.MusicService"
# How often the canary looks for dead stubs (it reads /proc: cheap, but no need to do it every poll).
CANARY_SECONDS = 10.0


class _Status:
    """The overall and the MusicService status, set (and logged) only when it changes."""

    def __init__(self, servicer: health_aio.HealthServicer, needed: list[str]) -> None:
        self.servicer = servicer
        self.needed = needed
        self.serving: bool | None = None

    async def set(self, serving: bool, **why: object) -> None:
        if serving == self.serving:
            return
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ("", SERVICE_NAME):
            await self.servicer.set(service, status)
        log.info("health", serving=serving, models=self.needed, **why)
        self.serving = serving


async def watch_models(
    servicer: health_aio.HealthServicer,
    models: Models,
    needed: list[str],
    interval: float,
    *,
    canary: StubCanary | None = None,
    canary_interval: float = CANARY_SECONDS,
) -> None:
    """Polls Triton forever, flipping the overall and the MusicService status when readiness changes; every
    `canary_interval` the canary (by default canary_for(models)) looks for needed models whose stub died, and
    health says NOT_SERVING until they are reloaded."""
    canary = canary or canary_for(models)
    status = _Status(servicer, needed)
    next_look = time.monotonic()
    while True:
        if canary is not None and time.monotonic() >= next_look:
            next_look = time.monotonic() + canary_interval
            if dead := await canary.look(needed):
                await status.set(False, dead_stubs=dead)
                for model, pids in dead.items():
                    await canary.revive(model, pids)
        ready = False
        with contextlib.suppress(ApiError):
            ready = await models.ready(needed)
        await status.set(ready)
        await asyncio.sleep(interval)
