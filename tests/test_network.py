"""Addresses as the servers and clients take them (dgxmusic.network)."""

import pytest

from dgxmusic.network import host_port, is_loopback


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                                ("10.0.0.5", False), ("music.example.com", False)])  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_host_and_port() -> None:
    assert host_port("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert host_port("[::1]:3819") == ("::1", 3819)
    for bad in ("8765", "host:", ":80", "host:0", "host:65536", "host:http"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            host_port(bad)
