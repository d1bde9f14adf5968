"""The stack's own keys (deploy.keys) and what uses them: generated once and kept owner-only, an operator's own
keys win, they never reach a command line, and a cached result verifies against the signing key."""

import stat
from pathlib import Path

import fakeredis
from pydantic import SecretStr

from deploy import triton
from deploy.keys import KEYS, keys_path, with_keys
from deploy.launcher import redis_config, settings_environment
from deploy.settings import Settings
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.cache import Recording, RedisGuard, ResultCache


def test_keys_are_generated_once_and_kept_for_the_owner_alone(tmp_path: Path) -> None:
    first = with_keys(Settings(data_dir=tmp_path))
    again = with_keys(Settings(data_dir=tmp_path))
    for name in KEYS:
        value = getattr(first, name)
        assert value is not None
        assert len(value.get_secret_value()) >= 32
        assert value == getattr(again, name)
    assert stat.S_IMODE(keys_path(tmp_path).stat().st_mode) == 0o600
    assert len({getattr(first, name) for name in KEYS}) == len(KEYS), "each key is its own"


def test_an_operators_key_wins_and_is_not_written_down(tmp_path: Path) -> None:
    mine = SecretStr("the operator's own redis password")
    settings = with_keys(Settings(data_dir=tmp_path, redis_password=mine))
    assert settings.redis_password == mine
    assert mine.get_secret_value() not in keys_path(tmp_path).read_text()


def test_keys_stay_off_command_lines_and_out_of_printed_settings(tmp_path: Path) -> None:
    settings = with_keys(Settings(data_dir=tmp_path))
    assert settings.redis_password is not None
    password = settings.redis_password.get_secret_value()
    assert password not in redis_config(settings), "Redis keeps only the password's hash"
    assert password not in str(settings.masked())
    assert settings_environment(settings)["DGXMUSIC_REDIS_PASSWORD"] == password  # children read it from there
    assert "DGXMUSIC_REDIS_PASSWORD" not in settings_environment(Settings(data_dir=tmp_path)), "unset stays unset"


def test_tritons_restricted_apis_want_the_key_under_each_protocols_header(tmp_path: Path) -> None:
    settings = with_keys(Settings(data_dir=tmp_path))
    assert settings.triton_api_key is not None
    key = settings.triton_api_key.get_secret_value()
    assert triton.http_key_headers(settings) == {triton.API_KEY_HEADER: key}
    assert triton.grpc_key_headers(settings) == {f"triton-grpc-protocol-{triton.API_KEY_HEADER}": key}
    assert triton.grpc_key_headers(Settings(data_dir=tmp_path)) == {}


def recording(*messages: str) -> Recording:
    result = Recording(max_bytes=1 << 20)
    for message in messages:
        result.append(pb.ComposeResponse(progress=pb.Progress(message=message)))
    return result


async def test_a_cached_result_is_served_only_as_the_stack_signed_it() -> None:
    client = fakeredis.FakeAsyncRedis()
    cache = ResultCache(client, 60, RedisGuard(5.0), signing_key=b"k" * 32)
    await cache.put("dgxmusic:v2:compose:a", recording("one", "two"))
    served = await cache.get("dgxmusic:v2:compose:a")
    assert served is not None
    assert [pb.ComposeResponse.FromString(raw).progress.message for raw in served] == ["one", "two"]

    altered = pb.ComposeResponse(progress=pb.Progress(message="3")).SerializeToString()
    await client.lset("dgxmusic:v2:compose:a", 2, altered)  # type: ignore[arg-type]  # Redis takes bytes too
    assert await cache.get("dgxmusic:v2:compose:a") is None, "an altered event"
    await cache.put("dgxmusic:v2:compose:a", recording("one", "two"))
    await client.rename("dgxmusic:v2:compose:a", "dgxmusic:v2:compose:b")
    assert await cache.get("dgxmusic:v2:compose:b") is None, "an entry moved to another request's key"
    other_stack = ResultCache(client, 60, RedisGuard(5.0), signing_key=b"x" * 32)
    await other_stack.put("dgxmusic:v2:compose:c", recording("one"))
    assert await cache.get("dgxmusic:v2:compose:c") is None, "an entry signed with another key"
