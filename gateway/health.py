"""grpc.health.v1: SERVING only while every model the gateway needs answers ready on Triton and none has a python
stub that died (gateway.canary) or is being reloaded."""

import asyncio
import contextlib

import structlog
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from gateway.canary import Canary, canary_for
from gateway.errors import ApiError
from gateway.triton import Models

log = structlog.get_logger(__name__)

SERVICE_NAME = "dgxmusic.v1.MusicService"
# How often the canary looks for dead stubs (reading /proc is cheap, but a remote Triton's models get a probe each).
CANARY_SECONDS = 10.0


class _Status:
    """The overall and the MusicService status, set (and logged) only when it changes; never SERVING while the
    canary has models `dead`."""

    def __init__(self, servicer: health_aio.HealthServicer, needed: list[str]) -> None:
        self.servicer = servicer
        self.needed = needed
        self.serving: bool | None = None
        self.dead: dict[str, str] = {}

    async def set(self, serving: bool, **why: object) -> None:
        serving = serving and not self.dead
        if serving == self.serving:
            return
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ("", SERVICE_NAME):
            await self.servicer.set(service, status)
        log.info("health", serving=serving, models=self.needed, **why)
        self.serving = serving


async def _poll_readiness(status: _Status, models: Models, interval: float) -> None:
    while True:
        ready = False
        with contextlib.suppress(ApiError):
            ready = await models.ready(status.needed)
        await status.set(ready)
        await asyncio.sleep(interval)


async def _run_canary(status: _Status, canary: Canary, interval: float) -> None:
    """Looks for dead models every `interval` and has them reloaded, health NOT_SERVING meanwhile; apart from the
    readiness polls, which a look's probes (seconds, for a busy model) would hold up."""
    while True:
        try:
            if dead := await canary.look(status.needed):
                status.dead = dead
                await status.set(False, dead=dead)
                for model, found in dead.items():
                    await canary.revive(model, found)
        except Exception:  # a canary's fault must not stop health; the next look tries again
            log.exception("canary_failed")
        finally:
            status.dead = {}
        await asyncio.sleep(interval)


async def watch_models(
    servicer: health_aio.HealthServicer,
    models: Models,
    needed: list[str],
    interval: float,
    *,
    canary: Canary | None = None,
    canary_interval: float = CANARY_SECONDS,
) -> None:
    """Polls Triton forever, flipping the overall and the MusicService status when readiness changes; every
    `canary_interval` the canary (by default canary_for(models)) looks for needed models whose stub died, and
    health says NOT_SERVING until they are reloaded."""
    status = _Status(servicer, needed)
    canary = canary or canary_for(models)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(_poll_readiness(status, models, interval))
        if canary is not None:
            tasks.create_task(_run_canary(status, canary, canary_interval))
