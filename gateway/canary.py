"""The canary: finds a model whose python stub died before any request does, and has it reloaded.

Triton never restarts a dead stub and goes on calling its model READY (FINDINGS.md); only a request sent to it
finds out ("Stub process ... is not healthy"), and then waits for the reload. On a Triton on this host (the
embedded default) the stubs are processes /proc shows (gateway.memory), so the canary needs to send nothing: it
remembers each model's stubs and, when one of them is gone while the Triton that started it still runs and still
calls the model READY, the stub died. It then reloads the model through the reload requests share
(TritonModels.reload: one at a time, leftovers ended), so a request that meets the dead stub meanwhile waits for
that reload rather than start another.

A stub that vanished because its model was reloaded (the reload generation moved on), unloaded (Triton no longer
calls it READY) or because Triton itself was restarted (its pid gone: the supervisor's business) is no death.

A Triton elsewhere (Kubernetes) shows no processes: there the canary sends each model a probe, a request its stub
answers at once (TritonModels.probe: one it refuses, or milliseconds of work), and a model whose stub Triton finds
"not healthy" is dead (a hung stub too). A model of several instances is probed once a look, so its one dead stub
is found when a probe lands on it (or by a request, as before)."""

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from gateway import metrics
from gateway.errors import ApiError
from gateway.memory import model_stubs, stat_fields
from gateway.triton import Models, TritonModels

log = structlog.get_logger(__name__)

# How long a reload found by the canary may take: unloading the model, then loading it again (imports, weights).
RELOAD_SECONDS = 120.0


@dataclass(frozen=True)
class Stub:
    """One stub process of a model, and the Triton (its parent) that started it."""

    pid: int
    triton_pid: int


class Canary(Protocol):
    """What watch_models runs every few seconds."""

    async def look(self, needed: Iterable[str]) -> dict[str, str]:
        """The needed models found dead, with what was found."""
        ...

    async def revive(self, model: str, found: str) -> bool:
        """Reloads a model found dead; whether it is loaded again."""
        ...


class Reloader(Protocol):
    """What the canary needs of the models (TritonModels has it)."""

    def reload_generation(self, model: str) -> int: ...

    def is_reloading(self, model: str) -> bool: ...

    async def ready(self, models: list[str], deadline: float = 1.0) -> bool: ...

    async def reload(self, model: str, generation: int, *, reason: str, deadline: float) -> None: ...


@dataclass(frozen=True)
class _Seen:
    generation: int
    stubs: frozenset[Stub]


class StubLedger:
    """Each model's stubs as last seen, and which of them are gone since: the canary's decision, without I/O."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def lost(self, model: str, generation: int, live: frozenset[Stub], running: Callable[[int], bool]) -> list[int]:
        """The pids of the model's stubs that died since it was last seen at this reload `generation` (their
        Triton still `running`); none at a new generation, nor when new stubs replaced them: Triton never restarts a
        dead stub, so new ones mean the model was loaded again through Triton's repository API (an operator's
        config override), which the canary must not undo. The stubs now `live` are what the next look compares
        with, unless some died: those are remembered until a reload moves the generation on."""
        seen = self._seen.get(model)
        lost = []
        if seen is not None and seen.generation == generation and not live - seen.stubs:
            lost = sorted(s.pid for s in seen.stubs - live if running(s.triton_pid))
        if not lost:
            self._seen[model] = _Seen(generation, live)
        return lost

    def forget(self, model: str) -> None:
        """Starts the model afresh (it was unloaded, or is loading): its next look only records its stubs."""
        self._seen.pop(model, None)


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie does not)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _parent(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[1]) if fields is not None else None


def local_stubs(triton_grpc_port: int) -> dict[str, frozenset[Stub]]:
    """The stub processes of each model of the Triton on this host at that port, with their parent."""
    stubs: dict[str, frozenset[Stub]] = {}
    for model, pids in model_stubs(triton_grpc_port).items():
        found = ((pid, _parent(pid)) for pid in pids)
        stubs[model] = frozenset(Stub(pid, parent) for pid, parent in found if parent is not None)
    return stubs


async def _revive(models: Reloader, model: str, found: str) -> bool:
    """Reloads a model found dead (through the reload requests share); whether it is loaded again."""
    log.warning("model_stub_died", model=model, found=found, found_by="canary")
    began = time.monotonic()
    try:
        await models.reload(model, models.reload_generation(model), reason=found, deadline=RELOAD_SECONDS)
    except ApiError as exc:
        log.error("model_reload_failed", model=model, code=exc.code.name, error=exc.message)
        return False
    log.info("model_reloaded", model=model, seconds=round(time.monotonic() - began, 3), found_by="canary")
    return True


class StubCanary:
    """Finds the needed models whose stub died by their stub processes (look) and reloads them (revive)."""

    def __init__(
        self,
        models: Reloader,
        observe: Callable[[], Mapping[str, frozenset[Stub]]],
        running: Callable[[int], bool] = _running,
    ) -> None:
        """`observe` reads each model's stubs as they are now (local_stubs); `running` tells whether a Triton runs."""
        self.models = models
        self.observe = observe
        self.running = running
        self.ledger = StubLedger()

    async def look(self, needed: Iterable[str]) -> dict[str, str]:
        """The needed models whose stubs died ("stub 123 died"); a model being reloaded is left to that reload."""
        live = self.observe()
        dead: dict[str, str] = {}
        for model in needed:
            if self.models.is_reloading(model):
                self.ledger.forget(model)
                continue
            generation = self.models.reload_generation(model)
            lost = self.ledger.lost(model, generation, live.get(model, frozenset()), self.running)
            if not lost:
                continue
            try:
                loaded = await self.models.ready([model])
            except ApiError:
                loaded = False  # Triton does not answer: nothing to tell a dead stub from
            if not loaded:  # unloaded, or loading: not a stub that died under a loaded model
                self.ledger.forget(model)
                continue
            metrics.DEAD_STUBS.labels(model).inc(len(lost))
            dead[model] = f"stub {', '.join(map(str, lost))} died"
        return dead

    async def revive(self, model: str, found: str) -> bool:
        return await _revive(self.models, model, found)


class Prober(Reloader, Protocol):
    async def probe(self, model: str, deadline: float = ...) -> str | None: ...


class ProbeCanary:
    """Finds the needed models whose stub is dead or hung by a probe request to each (look) and reloads them."""

    def __init__(self, models: Prober) -> None:
        self.models = models

    async def look(self, needed: Iterable[str]) -> dict[str, str]:
        """The needed models Triton says are not healthy, with its words; the probes go out together."""
        asked = [model for model in needed if not self.models.is_reloading(model)]
        answers = await asyncio.gather(*(self.models.probe(model) for model in asked))
        dead = {model: answer for model, answer in zip(asked, answers, strict=True) if answer is not None}
        for model in dead:
            metrics.DEAD_STUBS.labels(model).inc()
        return dead

    async def revive(self, model: str, found: str) -> bool:
        return await _revive(self.models, model, found)


def canary_for(models: Models) -> Canary | None:
    """The canary for models on Triton: stubs watched through /proc for a Triton on this host, probes otherwise."""
    if not isinstance(models, TritonModels):
        return None  # the tests' fakes have no stubs
    if models.local_port is not None:
        port = models.local_port
        return StubCanary(models, lambda: local_stubs(port))
    return ProbeCanary(models)
