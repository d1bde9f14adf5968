"""API keys, their rate limits and daily quotas on their own (gateway.auth), with a clock the tests move; the settings
that hold them; and the gateway's refusal to face a network without keys."""

import fakeredis
import grpc
import pytest
import redis.asyncio as redis_asyncio
from click.testing import CliRunner
from google.rpc import error_details_pb2, status_pb2
from pydantic import ValidationError

from deploy.cli import keys
from deploy.settings import ApiKey, Settings
from gateway.auth import KEY_PREFIX, DailyQuota, Gate, TokenBucket, key_hash, new_key
from gateway.cache import RedisGuard
from gateway.errors import ApiError
from gateway.server import refuse_open_network


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer(key: str) -> list[tuple[str, str]]:
    return [("x-request-id", "r1"), ("authorization", f"Bearer {key}")]


def test_new_keys_are_random_and_recognisable() -> None:
    first, second = new_key(), new_key()
    assert first != second
    assert first.startswith(KEY_PREFIX)
    assert len(first) > 40


def test_a_key_is_kept_as_its_sha256_hash() -> None:
    assert key_hash("secret") == "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    assert ApiKey(hash=key_hash("secret")).hash == key_hash("secret")


def test_settings_refuse_a_plaintext_key_in_place_of_its_hash() -> None:
    with pytest.raises(ValidationError, match="hash"):
        ApiKey(hash="dgxm_plaintext")


def test_settings_read_each_key_from_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGXMUSIC_API_KEYS__ALICE", f'{{"hash": "{key_hash("a")}", "requests_per_minute": 6}}')
    settings = Settings()
    assert settings.api_keys == {"alice": ApiKey(hash=key_hash("a"), requests_per_minute=6)}


def test_settings_want_the_tls_certificate_and_its_key_together() -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(tls_cert_file="cert.pem")


def test_settings_want_a_server_certificate_for_mtls() -> None:
    with pytest.raises(ValidationError, match="mTLS"):
        Settings(tls_client_ca_file="ca.pem")


def test_the_bucket_lets_a_burst_through_then_says_how_long_to_wait() -> None:
    clock = Clock()
    bucket = TokenBucket(per_minute=6, burst=2, clock=clock)
    assert bucket.take() == 0
    assert bucket.take() == 0
    assert bucket.take() == pytest.approx(10.0)
    clock.now += 4
    assert bucket.take() == pytest.approx(6.0)


def test_the_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        bucket.take()
    clock.now += 3600
    assert [bucket.take() for _ in range(4)] == [0, 0, 0, pytest.approx(1.0)]


def test_a_gate_without_keys_lets_every_call_in() -> None:
    assert Gate({}).admit([]) is None


def test_a_good_key_is_let_in_by_name() -> None:
    gate = Gate({"alice": ApiKey(hash=key_hash("ka")), "bob": ApiKey(hash=key_hash("kb"))})
    assert gate.admit(bearer("kb")) == "bob"
    assert gate.admit([("authorization", "bearer ka")]) == "alice"


@pytest.mark.parametrize(
    "metadata",
    [[], [("authorization", "Basic a2E=")], bearer("wrong"), bearer(""), bearer(key_hash("ka"))],
    ids=["no key", "another scheme", "unknown key", "empty key", "the hash itself"],
)
def test_a_call_without_a_known_key_is_unauthenticated(metadata: list[tuple[str, str]]) -> None:
    gate = Gate({"alice": ApiKey(hash=key_hash("ka"))})
    with pytest.raises(ApiError) as refused:
        gate.admit(metadata)
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_a_key_over_its_rate_limit_is_told_when_to_retry() -> None:
    clock = Clock()
    gate = Gate({"alice": ApiKey(hash=key_hash("ka"), requests_per_minute=30, burst=1)}, clock)
    gate.admit(bearer("ka"))
    with pytest.raises(ApiError) as refused:
        gate.admit(bearer("ka"))
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "alice" in refused.value.message
    status = status_pb2.Status.FromString(dict(refused.value.to_status().trailing_metadata)["grpc-status-details-bin"])
    retry_info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry_info)
    assert retry_info.retry_delay.ToTimedelta().total_seconds() == pytest.approx(2.0)
    clock.now += 2
    assert gate.admit(bearer("ka")) == "alice"


def test_each_key_has_its_own_rate_limit() -> None:
    gate = Gate({"alice": ApiKey(hash=key_hash("ka"), burst=1), "bob": ApiKey(hash=key_hash("kb"), burst=1)}, Clock())
    gate.admit(bearer("ka"))
    assert gate.admit(bearer("kb")) == "bob"


def test_the_gateway_refuses_to_face_a_network_without_keys() -> None:
    with pytest.raises(SystemExit, match="not a loopback address and no API keys"):
        refuse_open_network(Settings(host="0.0.0.0"))


def test_the_gateway_faces_a_network_with_keys() -> None:
    refuse_open_network(Settings(host="0.0.0.0", api_keys={"alice": ApiKey(hash=key_hash("ka"))}))


def test_keys_new_prints_the_key_once_and_a_setting_with_only_its_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    done = CliRunner().invoke(keys, ["new", "alice", "--requests-per-minute", "30"])
    assert done.exit_code == 0, done.output
    key, *rest = done.output.splitlines()
    assert key.startswith(KEY_PREFIX)
    setting = next(line for line in rest if line.startswith("DGXMUSIC_API_KEYS__ALICE="))
    assert key not in setting
    monkeypatch.setenv("DGXMUSIC_API_KEYS__ALICE", setting.split("=", 1)[1].strip("'"))
    assert Gate(Settings().api_keys).admit(bearer(key)) == "alice"


def test_keys_new_refuses_a_name_no_variable_can_hold() -> None:
    done = CliRunner().invoke(keys, ["new", "Alice-1"])
    assert done.exit_code == 2


async def test_a_daily_quota_counts_a_utc_day_in_redis_and_says_when_it_renews() -> None:
    clock = Clock()
    clock.now = 1_796_342_400.0 - 90  # 90 s before a UTC midnight
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    keys = {"carol": ApiKey(hash=key_hash("c"), requests_per_day=2), "dave": ApiKey(hash=key_hash("d"))}
    quota = DailyQuota(redis, keys, RedisGuard(5.0), clock)
    await quota.spend("carol")
    await quota.spend("carol")
    with pytest.raises(ApiError) as refused:
        await quota.spend("carol")
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.value.retry_after == pytest.approx(90)
    assert "quota of 2 calls" in refused.value.message
    for _ in range(5):  # no quota, or no key at all (the keyless default)
        await quota.spend("dave")
        await quota.spend(None)
    # A second gateway on the same Redis counts against the same quota; a new day starts afresh.
    with pytest.raises(ApiError):
        await DailyQuota(redis, keys, RedisGuard(5.0), clock).spend("carol")
    clock.now += 91
    await quota.spend("carol")
    await redis.aclose()


async def test_a_quota_lets_calls_through_when_redis_does_not_answer() -> None:
    redis = redis_asyncio.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens on port 1
    guard = RedisGuard(retry_seconds=60.0)
    quota = DailyQuota(redis, {"carol": ApiKey(hash=key_hash("c"), requests_per_day=1)}, guard)
    await quota.spend("carol")
    assert not guard.open  # Redis is skipped for a while: the next calls do not wait on it
    for _ in range(3):
        await quota.spend("carol")
    await redis.aclose()
