"""The canary's decision (gateway.canary) on stubs described rather than read from /proc, and health (watch_models)
while it finds a dead stub and has the model reloaded. Through the real stack: tests/test_stack_canary.py."""

import asyncio
from collections.abc import Callable, Iterable
from typing import cast

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from gateway.canary import ProbeCanary, Stub, StubCanary, StubLedger
from gateway.health import watch_models
from gateway.triton import Models

TRITON = 100
RESTARTED_TRITON = 200
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def stubs(*pids: int, triton: int = TRITON) -> frozenset[Stub]:
    return frozenset(Stub(pid, triton) for pid in pids)


def only_running(*pids: int) -> Callable[[int], bool]:
    return lambda pid: pid in pids


class FakeReloader:
    """TritonModels' reload bookkeeping: reloading a model moves its generation on and gives it new stubs."""

    def __init__(self, live: dict[str, frozenset[Stub]]) -> None:
        self.live = live
        self.generations: dict[str, int] = {}
        self.reloading: set[str] = set()
        self.unloaded: set[str] = set()
        self.reloads: list[tuple[str, int]] = []
        self.next_pid = 1000

    def reload_generation(self, model: str) -> int:
        return self.generations.get(model, 0)

    def is_reloading(self, model: str) -> bool:
        return model in self.reloading

    async def ready(self, models: list[str], deadline: float = 1.0) -> bool:
        return not (set(models) & (self.unloaded | self.reloading))

    async def reload(self, model: str, generation: int, *, reason: str, deadline: float) -> None:
        self.reloads.append((model, generation))
        if self.generations.get(model, 0) != generation:
            return
        self.reloading.add(model)
        await asyncio.sleep(0.05)  # health is looked at meanwhile
        self.next_pid += 1
        self.live[model] = stubs(self.next_pid)
        self.generations[model] = generation + 1
        self.reloading.discard(model)


def canary_of(models: FakeReloader) -> StubCanary:
    return StubCanary(models, lambda: dict(models.live), only_running(TRITON))


# -- the ledger ------------------------------------------------------------------------------------------------


def test_a_stub_gone_under_the_triton_that_started_it_is_lost() -> None:
    ledger = StubLedger()
    assert ledger.lost("basic_pitch", 0, stubs(1, 2), only_running(TRITON)) == []
    assert ledger.lost("basic_pitch", 0, stubs(2), only_running(TRITON)) == [1]


def test_a_lost_stub_stays_lost_until_the_model_is_reloaded() -> None:
    ledger = StubLedger()
    ledger.lost("text2midi", 0, stubs(1), only_running(TRITON))
    assert ledger.lost("text2midi", 0, stubs(), only_running(TRITON)) == [1]
    assert ledger.lost("text2midi", 0, stubs(), only_running(TRITON)) == [1]
    assert ledger.lost("text2midi", 1, stubs(7), only_running(TRITON)) == []
    assert ledger.lost("text2midi", 1, stubs(7), only_running(TRITON)) == []


def test_stubs_replaced_by_a_reload_are_not_lost() -> None:
    ledger = StubLedger()
    ledger.lost("fluidsynth", 0, stubs(1), only_running(TRITON))
    assert ledger.lost("fluidsynth", 1, stubs(2), only_running(TRITON)) == []


def test_stubs_replaced_by_a_reload_through_triton_are_not_lost() -> None:
    """Loaded again through Triton's repository API, not the gateway (its generation stays): new stubs, no death."""
    ledger = StubLedger()
    ledger.lost("text2midi", 0, stubs(1), only_running(TRITON))
    assert ledger.lost("text2midi", 0, stubs(2), only_running(TRITON)) == []
    assert ledger.lost("text2midi", 0, stubs(2), only_running(TRITON)) == []
    assert ledger.lost("text2midi", 0, stubs(), only_running(TRITON)) == [2]


def test_stubs_of_a_triton_that_died_are_not_lost() -> None:
    """A restarted Triton is the supervisor's business: its models are loaded afresh, nothing to reload."""
    ledger = StubLedger()
    ledger.lost("demucs", 0, stubs(1), only_running(TRITON))
    assert ledger.lost("demucs", 0, stubs(5, triton=RESTARTED_TRITON), only_running(RESTARTED_TRITON)) == []


def test_stubs_that_start_are_not_lost() -> None:
    ledger = StubLedger()
    ledger.lost("basic_pitch", 0, stubs(), only_running(TRITON))
    assert ledger.lost("basic_pitch", 0, stubs(1), only_running(TRITON)) == []
    assert ledger.lost("basic_pitch", 0, stubs(1, 2), only_running(TRITON)) == []


# -- the canary ------------------------------------------------------------------------------------------------


async def test_the_canary_finds_a_dead_stub_and_reloads_its_model_once() -> None:
    models = FakeReloader({"basic_pitch": stubs(1, 2), "text2midi": stubs(3)})
    canary = canary_of(models)
    assert await canary.look(["basic_pitch", "text2midi"]) == {}
    models.live["basic_pitch"] = stubs(2)
    assert await canary.look(["basic_pitch", "text2midi"]) == {"basic_pitch": "stub 1 died"}
    assert await canary.revive("basic_pitch", "stub 1 died")
    assert models.reloads == [("basic_pitch", 0)]
    assert await canary.look(["basic_pitch", "text2midi"]) == {}
    assert await canary.look(["basic_pitch", "text2midi"]) == {}


async def test_a_model_unloaded_on_purpose_is_not_reloaded() -> None:
    models = FakeReloader({"demucs": stubs(1)})
    canary = canary_of(models)
    await canary.look(["demucs"])
    models.live["demucs"], models.unloaded = stubs(), {"demucs"}
    assert await canary.look(["demucs"]) == {}
    models.live["demucs"], models.unloaded = stubs(9), set()
    assert await canary.look(["demucs"]) == {}


async def test_a_model_a_request_is_reloading_is_left_to_that_reload() -> None:
    models = FakeReloader({"fluidsynth": stubs(1)})
    canary = canary_of(models)
    await canary.look(["fluidsynth"])
    models.live["fluidsynth"], models.reloading = stubs(), {"fluidsynth"}
    assert await canary.look(["fluidsynth"]) == {}
    models.live["fluidsynth"], models.reloading, models.generations["fluidsynth"] = stubs(2), set(), 1
    assert await canary.look(["fluidsynth"]) == {}
    assert models.reloads == []


async def test_a_model_not_needed_is_not_watched() -> None:
    models = FakeReloader({"musicgen": stubs(1)})
    canary = canary_of(models)
    await canary.look(["text2midi"])
    models.live["musicgen"] = stubs()
    assert await canary.look(["text2midi"]) == {}


# -- the probes (a remote Triton) ------------------------------------------------------------------------------

UNHEALTHY = "Failed to process the request(s) for model 'text2midi_0_0', message: Stub process is not healthy."


class FakeProber(FakeReloader):
    """A remote Triton's models: each probe answered as Triton would, from the stubs `dead` now."""

    def __init__(self) -> None:
        super().__init__({})
        self.dead: set[str] = set()
        self.probed: list[str] = []

    async def probe(self, model: str, deadline: float = 5.0) -> str | None:
        self.probed.append(model)
        return UNHEALTHY if model in self.dead else None

    async def reload(self, model: str, generation: int, *, reason: str, deadline: float) -> None:
        await super().reload(model, generation, reason=reason, deadline=deadline)
        self.dead.discard(model)


async def test_a_probe_triton_finds_not_healthy_is_a_dead_model_until_reloaded() -> None:
    models = FakeProber()
    canary = ProbeCanary(models)
    assert await canary.look(["text2midi", "fluidsynth"]) == {}
    models.dead.add("text2midi")
    assert await canary.look(["text2midi", "fluidsynth"]) == {"text2midi": UNHEALTHY}
    assert await canary.revive("text2midi", UNHEALTHY)
    assert await canary.look(["text2midi", "fluidsynth"]) == {}
    assert models.reloads == [("text2midi", 0)]


async def test_a_model_being_reloaded_is_not_probed() -> None:
    models = FakeProber()
    models.reloading.add("fluidsynth")
    await ProbeCanary(models).look(["text2midi", "fluidsynth"])
    assert models.probed == ["text2midi"]


# -- health ----------------------------------------------------------------------------------------------------


class RecordingHealth(health_aio.HealthServicer):  # type: ignore[misc]
    """The overall status each time watch_models sets it."""

    def __init__(self) -> None:
        super().__init__()
        self.overall: list[int] = []
        self.changed = asyncio.Event()

    async def set(self, service: str, status: int) -> None:
        await super().set(service, status)
        if service == "":
            self.overall.append(status)
            self.changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self.changed.wait()
            self.changed.clear()


async def test_health_is_not_serving_from_a_dead_stub_until_its_model_is_reloaded() -> None:
    models = FakeReloader({"text2midi": stubs(1)})
    health = RecordingHealth()
    canary = canary_of(models)
    # watch_models asks the models only whether they are ready, which FakeReloader answers.
    watcher = asyncio.create_task(
        watch_models(health, cast(Models, models), ["text2midi"], 0.01, canary=canary, canary_interval=0.01)
    )
    try:
        async with asyncio.timeout(10):
            await health.until(lambda: health.overall == [SERVING])
            models.live["text2midi"] = stubs()
            await health.until(lambda: health.overall[-1] == SERVING and bool(models.reloads))
    finally:
        watcher.cancel()
    assert health.overall == [SERVING, NOT_SERVING, SERVING]
    assert models.reloads == [("text2midi", 0)]
    assert models.live["text2midi"] == stubs(1001)


class BrokenCanary:
    def __init__(self) -> None:
        self.looked_again = asyncio.Event()
        self.looks = 0

    async def look(self, needed: Iterable[str]) -> dict[str, str]:
        self.looks += 1
        if self.looks > 1:
            self.looked_again.set()
        raise OSError("/proc is gone")

    async def revive(self, model: str, found: str) -> bool:
        raise AssertionError("nothing was found")


async def test_a_failing_canary_stops_neither_itself_nor_health() -> None:
    models = FakeReloader({"text2midi": stubs(1)})
    health = RecordingHealth()
    canary = BrokenCanary()
    watcher = asyncio.create_task(
        watch_models(health, cast(Models, models), ["text2midi"], 0.01, canary=canary, canary_interval=0.01)
    )
    try:
        async with asyncio.timeout(10):
            await health.until(lambda: health.overall == [SERVING])
            models.unloaded = {"text2midi"}
            await health.until(lambda: health.overall == [SERVING, NOT_SERVING])
            await canary.looked_again.wait()
    finally:
        watcher.cancel()
