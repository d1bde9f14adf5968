"""A gateway that faces a network, end to end: gateways of their own on the test session's Triton and Redis, with TLS
(certificates made here), mTLS and API keys, reached by the Python clients and the CLI."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import trustme
from click.testing import CliRunner
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from clients.cli import main
from clients.client import AsyncMusicClient, MusicClient, Tls, song_options
from clients.errors import AuthenticationError, DgxMusicError, RateLimitedError
from conftest import stack_settings
from deploy.launcher import Stack, free_ports
from gateway.auth import key_hash, new_key
from waiting import wait_until

GOOD_KEY = new_key()
LIMITED_KEY = new_key()
API_KEYS = {
    "good": {"hash": key_hash(GOOD_KEY), "requests_per_minute": 6000, "burst": 1000},
    "limited": {"hash": key_hash(LIMITED_KEY), "requests_per_minute": 1, "burst": 2},
}


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True)
class Gateway:
    target: str
    log: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, the gateway's certificate for 127.0.0.1 and a client's certificate, all signed by it."""
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client.dgx-music.test")
    paths = Certificates(*(directory / name for name in ("ca.pem", "server.pem", "server.key", "client.pem", "c.key")))
    ca.cert_pem.write_to_path(str(paths.ca))
    server.private_key_pem.write_to_path(str(paths.server_key))
    client.private_key_pem.write_to_path(str(paths.client_key))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(paths.server_cert), append=True)
    for blob in client.cert_chain_pems:
        blob.write_to_path(str(paths.client_cert), append=True)
    return paths


def _serving(target: str, tls: Tls) -> bool:
    try:
        with MusicClient(target, timeout=2, tls=tls) as client:
            return client.health() == "SERVING"
    except DgxMusicError:
        return False


@contextmanager
def gateway_process(stack: Stack, directory: Path, tls: Tls, **settings: str) -> Iterator[Gateway]:
    """A gateway of its own on the stack's Triton and Redis (with the stack's keys), as the launcher starts one, and
    `settings` (DGXMUSIC_* without the prefix) on top; its log in directory/gateway.log."""
    (port,) = free_ports(1)
    env = stack.gateway_environment(grpc_port=str(port), metrics_port="0", **settings)
    log = directory / "gateway.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stdout=output, stderr=output)
    target = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _serving(target, tls), "the gateway serving", timeout_s=120)
        assert process.poll() is None, log.read_text()
        yield Gateway(target, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def tls_gateway(
    stack: Stack, certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """TLS and API keys."""
    with gateway_process(
        stack,
        tmp_path_factory.mktemp("tls-gateway"),
        Tls(certificates.ca),
        tls_cert_file=str(certificates.server_cert),
        tls_key_file=str(certificates.server_key),
        api_keys=json.dumps(API_KEYS),
    ) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def mtls_gateway(
    stack: Stack, certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """mTLS: client certificates the CA signed required; no API keys."""
    with gateway_process(
        stack,
        tmp_path_factory.mktemp("mtls-gateway"),
        Tls(certificates.ca, certificates.client_cert, certificates.client_key),
        tls_cert_file=str(certificates.server_cert),
        tls_key_file=str(certificates.server_key),
        tls_client_ca_file=str(certificates.ca),
    ) as gateway:
        yield gateway


def one_song(client: MusicClient) -> None:
    assert client.generate_midi("house 124", song_options(bars=1)).midi.startswith(b"MThd")


def test_a_tls_call_with_the_ca_and_a_good_key_works(tls_gateway: Gateway, certificates: Certificates) -> None:
    with MusicClient(tls_gateway.target, timeout=60, tls=Tls(certificates.ca), api_key=GOOD_KEY) as client:
        one_song(client)


async def test_the_asyncio_client_sends_its_key_over_tls(tls_gateway: Gateway, certificates: Certificates) -> None:
    async with AsyncMusicClient(tls_gateway.target, timeout=60, tls=Tls(certificates.ca), api_key=GOOD_KEY) as client:
        song = await client.generate_midi("house 124", song_options(bars=1))
    assert song.midi.startswith(b"MThd")


def test_a_plaintext_call_to_the_tls_port_fails(tls_gateway: Gateway) -> None:
    with MusicClient(tls_gateway.target, timeout=5, api_key=GOOD_KEY) as client, pytest.raises(DgxMusicError) as failed:
        client.health()
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_gateway: Gateway) -> None:
    client = MusicClient(tls_gateway.target, timeout=5, tls=Tls(), api_key=GOOD_KEY)
    with client, pytest.raises(DgxMusicError) as failed:
        client.health()
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("api_key", [None, "dgxm_not-a-key-of-this-gateway", key_hash(GOOD_KEY)])
def test_a_call_without_a_known_key_is_unauthenticated(
    tls_gateway: Gateway, certificates: Certificates, api_key: str | None
) -> None:
    client = MusicClient(tls_gateway.target, timeout=60, tls=Tls(certificates.ca), api_key=api_key)
    with client, pytest.raises(AuthenticationError) as refused:
        one_song(client)
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_health_and_reflection_answer_without_a_key(tls_gateway: Gateway, certificates: Certificates) -> None:
    with MusicClient(tls_gateway.target, timeout=10, tls=Tls(certificates.ca)) as client:
        assert client.health("dgxmusic.v1.MusicService") == "SERVING"
        services = set(ProtoReflectionDescriptorDatabase(client.channel).get_services())
    assert "dgxmusic.v1.MusicService" in services


def test_a_key_over_its_rate_limit_is_told_when_to_retry(tls_gateway: Gateway, certificates: Certificates) -> None:
    with MusicClient(tls_gateway.target, timeout=60, tls=Tls(certificates.ca), api_key=LIMITED_KEY) as client:
        one_song(client)
        one_song(client)  # its burst is 2
        with pytest.raises(RateLimitedError) as refused:
            one_song(client)
        assert client.health() == "SERVING"  # probes are never counted
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.value.retry_delay is not None
    assert 0 < refused.value.retry_delay <= 60


def test_the_log_line_of_a_call_names_its_key_and_never_shows_the_key(
    tls_gateway: Gateway, certificates: Certificates
) -> None:
    with MusicClient(tls_gateway.target, timeout=60, tls=Tls(certificates.ca), api_key=GOOD_KEY) as client:
        one_song(client)
    text = tls_gateway.log.read_text()
    calls = [json.loads(line) for line in text.splitlines() if '"event": "rpc"' in line]
    assert any(call["api_key"] == "good" and call["code"] == "OK" for call in calls)
    assert GOOD_KEY not in text
    assert LIMITED_KEY not in text


def test_the_cli_reaches_a_tls_gateway_with_its_ca_and_key(
    tls_gateway: Gateway, certificates: Certificates, tmp_path: Path
) -> None:
    out = tmp_path / "song.mid"
    argv = ["midi", "house 125", "--bars", "1", "--out", str(out), "--server", tls_gateway.target]
    done = CliRunner().invoke(main, [*argv, "--ca-file", str(certificates.ca), "--api-key", GOOD_KEY])
    assert done.exit_code == 0, done.output
    assert out.read_bytes().startswith(b"MThd")


def test_the_cli_reads_the_key_from_the_environment(tls_gateway: Gateway, certificates: Certificates) -> None:
    argv = ["models", "list", "--server", tls_gateway.target, "--ca-file", str(certificates.ca)]
    done = CliRunner().invoke(main, argv, env={"DGXMUSIC_API_KEY": GOOD_KEY})
    assert done.exit_code == 0, done.output
    assert "text2midi" in done.output


def test_the_cli_says_when_the_gateway_wants_a_key(tls_gateway: Gateway, certificates: Certificates) -> None:
    argv = ["midi", "house 125", "--server", tls_gateway.target, "--ca-file", str(certificates.ca)]
    done = CliRunner().invoke(main, argv, env={"DGXMUSIC_API_KEY": ""})
    assert done.exit_code == 1
    assert "UNAUTHENTICATED" in done.output


def test_the_cli_checks_health_over_tls_without_a_key(tls_gateway: Gateway, certificates: Certificates) -> None:
    done = CliRunner().invoke(main, ["health", "--server", tls_gateway.target, "--ca-file", str(certificates.ca)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "SERVING"


def test_mtls_without_a_client_certificate_fails(mtls_gateway: Gateway, certificates: Certificates) -> None:
    client = MusicClient(mtls_gateway.target, timeout=5, tls=Tls(certificates.ca))
    with client, pytest.raises(DgxMusicError) as failed:
        client.health()
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE


def test_mtls_with_a_client_certificate_works(mtls_gateway: Gateway, certificates: Certificates) -> None:
    tls = Tls(certificates.ca, certificates.client_cert, certificates.client_key)
    with MusicClient(mtls_gateway.target, timeout=60, tls=tls) as client:
        one_song(client)


def test_a_gateway_on_a_network_address_without_keys_refuses_to_start() -> None:
    env = {**os.environ, "DGXMUSIC_HOST": "0.0.0.0", "DGXMUSIC_METRICS_PORT": "0", "DGXMUSIC_API_KEYS": "{}"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "not a loopback address and no API keys" in done.stderr


@pytest.mark.stack
def test_a_whole_stack_starts_and_serves_behind_mtls(certificates: Certificates, tmp_path: Path) -> None:
    """The launcher knows the gateway is up without a client certificate of its own."""
    settings = stack_settings(
        tmp_path / "data",
        models=["text2midi"],
        tls_cert_file=certificates.server_cert,
        tls_key_file=certificates.server_key,
        tls_client_ca_file=certificates.ca,
    )
    with Stack(settings) as running:
        tls = Tls(certificates.ca, certificates.client_cert, certificates.client_key)
        with MusicClient(running.gateway_target, timeout=60, tls=tls) as client:
            wait_until(lambda: client.health() == "SERVING", "the gateway serving")
            one_song(client)
