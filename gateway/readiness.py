"""Refusing a call whose later stage could not run, before its first stage does any work.

A Compose with `separate` renders and streams the whole song before separation starts: if Demucs cannot run (its
weights missing, its model not loaded), finding out then wastes the work and the client's wait. So a multi-stage
call names the models its stages need (Need: the request field that asks for each) and `Readiness.require` checks
them as `models list` does - Triton's readiness, then the weights probe of the models that load weights - and
refuses with FAILED_PRECONDITION (or UNAVAILABLE, when waiting helps) naming the field, the model's state and
what fixes it."""

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from dgxmusic.models import DEMUCS, MUSICGEN
from gateway.errors import ApiError
from gateway.triton import Models

# The models whose weights are probed (the others ship theirs with the server).
WEIGHTS_LOADING = (DEMUCS, MUSICGEN)
# How long a model's weights, once found present, count as present without another probe: they are not removed
# under a running server, and a probe of a busy model waits up to WEIGHTS_PROBE_SECONDS.
WEIGHTS_PRESENT_SECONDS = 60.0


@dataclass(frozen=True)
class Need:
    """A model a call's stage runs on, and the request field that asked for that stage."""

    field: str
    model: str
    name: str = ""  # the separation or MusicGen model the call chose on `model`; "" for its default


class Readiness:
    """Checks that the models a call needs can run (`require`), remembering weights found present for a while."""

    def __init__(self, models: Models, served: Sequence[str], clock: Callable[[], float] = time.monotonic) -> None:
        """`served`: the models this server runs (settings.models); one outside them is not waited for."""
        self.models = models
        self.served = list(served)
        self.clock = clock
        self._weights_present_at: dict[tuple[str, str], float] = {}

    async def require(self, needs: Sequence[Need]) -> None:
        """Raises the first need's refusal (the needs are checked side by side); nothing when all can run."""
        refusals = await asyncio.gather(*(self._refusal(need) for need in needs))
        for refusal in refusals:
            if refusal is not None:
                raise refusal

    async def _refusal(self, need: Need) -> ApiError | None:
        field, model = need.field, need.model
        if not await self.models.ready([model]):
            return await self._not_ready(need)
        if model not in WEIGHTS_LOADING:
            return None
        seen = self._weights_present_at.get((model, need.name))
        if seen is not None and self.clock() - seen < WEIGHTS_PRESENT_SECONDS:
            return None
        check = await self.models.weights_check(model, need.name)
        if check.unknown is not None:  # a name no model has: the request's fault, not the server's
            return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {check.unknown}", field)
        if check.problem is not None:
            self._weights_present_at.pop((model, need.name), None)
            # The model's own words name the missing files and the `dgx-music models pull` that fetches them.
            return ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"{field}: {check.problem}", field)
        if not check.busy:
            self._weights_present_at[(model, need.name)] = self.clock()
        return None

    async def _not_ready(self, need: Need) -> ApiError:
        """Why a model is not ready, as `models list` tells it, and what to do: wait for one the server runs and is
        (re)loading; fix the server for one it does not run or that failed to load."""
        field, model = need.field, need.model
        entry = next((e for e in await self.models.repository() if e.name == model), None)
        if model not in self.served or entry is None:
            served = ", ".join(self.served)
            reason = (
                f"model {model} is not run by this server (it runs {served}); start the server with {model} in "
                f"DGXMUSIC_MODELS"
            )
            return ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"{field}: {reason}", field)
        why = f"{entry.state}{': ' + entry.reason if entry.reason else ''}"
        if entry.state == "UNAVAILABLE" and entry.reason and "unloaded" not in entry.reason:
            reason = f"model {model} failed to load ({why}); see `dgx-music models list`, fix it and restart the server"
            return ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"{field}: {reason}", field)
        reason = f"model {model} is not ready ({why}); retry when `dgx-music models list` shows it ready"
        return ApiError(grpc.StatusCode.UNAVAILABLE, f"{field}: {reason}", field)
