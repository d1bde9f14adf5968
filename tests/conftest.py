"""The real stack (redis-server, tritonserver, gateway), started once per test session on free ports."""

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from clients.client import MusicClient
from deploy.launcher import Stack, free_ports, running_postgres, settings_on_free_ports
from deploy.settings import Settings
from faulty_plugins import NO_COMPILER, build, compiler, lv2_path_with
from separator import write_random_htdemucs

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUF = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "buf"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the stack is marked `stack`, so that `pytest -m "not stack"` runs the rest without
    Triton or Redis."""
    for item in items:
        if {"stack", "client"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


def stack_settings(data_dir: Path, **overrides: Any) -> Settings:
    return settings_on_free_ports(data_dir, log_format="json", **overrides)


@pytest.fixture(scope="session")
def faulty_plugins_dir(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The directory holding the faulty test plugins' bundle (tests/faulty_plugins.py), built once per session;
    None where there is no C compiler."""
    return build(tmp_path_factory.mktemp("faulty-lv2")) if compiler() is not None else None


@pytest.fixture(scope="session")
def faulty_lv2_path(faulty_plugins_dir: Path | None) -> str:
    """LV2_PATH with the faulty test plugins first; the test is skipped where they cannot be built."""
    if faulty_plugins_dir is None:
        pytest.skip(NO_COMPILER)
    return lv2_path_with(faulty_plugins_dir)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, faulty_plugins_dir: Path | None) -> Iterator[Stack]:
    """The whole stack. No weights can be downloaded here: its demucs model is a tiny random HTDemucs written as
    "htdemucs" in demucs' own file format, so the real loading path runs, and musicgen runs audiocraft's tiny
    'debug' model with musicgen-melody's chroma conditioning ('debug-melody'). Its plugin workers find the faulty
    test plugins too (LV2_PATH, which Triton inherits), where a C compiler built them."""
    data = tmp_path_factory.mktemp("stack")
    write_random_htdemucs(data / "weights", "htdemucs")
    settings = stack_settings(
        data,
        weights_dir=data / "weights",
        demucs_model="htdemucs",
        musicgen_model="debug-melody",
        cache_sweep_seconds=1.0,  # the cache's gauges up to date within a test's wait
    )
    with pytest.MonkeyPatch.context() as patch:
        if faulty_plugins_dir is not None:
            patch.setenv("LV2_PATH", lv2_path_with(faulty_plugins_dir))
        with Stack(settings) as running:
            yield running


def stack_redis(stack: Stack) -> redis.Redis:
    """The stack's Redis, as the gateway reaches it (with the stack's password)."""
    assert stack.settings.redis_password is not None
    return redis.Redis(port=stack.settings.redis_port, password=stack.settings.redis_password.get_secret_value())


@pytest.fixture(scope="session")
def client(stack: Stack) -> Iterator[MusicClient]:
    with MusicClient(stack.gateway_target, timeout=120) as music:
        yield music


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL of the tests' own (Debian's, as `dgx-music serve` runs it: its own cluster, a private socket),
    started once per session; its DSN."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A redis-server of the module's own (started as the launcher starts one, not as an asyncio subprocess)."""
    (port,) = free_ports(1)
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL) as server:
        try:
            yield port
        finally:
            server.terminate()
