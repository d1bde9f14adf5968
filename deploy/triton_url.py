"""DGXMUSIC_TRITON_URL: where the gateway finds Triton. One replica (`host:port`), the replicas a DNS name resolves
to (`dns:///triton-headless:8001`, a Kubernetes headless Service), or a list (`ipv4:127.0.0.1:8001,127.0.0.1:8011`).
The gRPC channel takes each form as it is (tritonclient passes it on unchanged) and balances calls per request over
the replicas (gateway.triton.CHANNEL_ARGS)."""

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from dgxmusic.network import is_loopback

# A DNS name or an IPv4 address; IPv6 goes in brackets ([::1]:8001).
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
FORMS = "host:port, dns:///name:port or ipv4:host:port,host:port,..."


class TritonUrlError(ValueError):
    """A url the gateway cannot reach Triton at; the message says which part is wrong."""


@dataclass(frozen=True)
class Replica:
    host: str  # an IPv6 address in brackets, as in a url
    port: int

    @property
    def address(self) -> str:
        """host:port, as a url of this replica alone."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TritonUrl:
    form: Literal["host", "dns", "ipv4"]
    replicas: tuple[Replica, ...]  # for "dns", the name to resolve: its replicas are known only once resolved

    @property
    def local_port(self) -> int | None:
        """The gRPC port of the one Triton on this host (its stubs show in /proc); None for a remote Triton or
        several replicas (which replica's stubs are whose is not known)."""
        if self.form == "dns" or len(self.replicas) != 1 or not is_loopback(self.replicas[0].host):
            return None
        return self.replicas[0].port


def _replica(text: str, *, ipv4_only: bool = False) -> Replica:
    host, colon, port = text.rpartition(":")
    if not colon or not host:
        raise TritonUrlError(f"{text!r} has no port: write host:port")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise TritonUrlError(f"{text!r}: port {port!r} is not a number from 1 to 65535")
    if ipv4_only:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise TritonUrlError(f"{text!r}: an ipv4: list takes IPv4 addresses only, not {host!r}") from None
    elif host.startswith("["):
        try:
            ipaddress.IPv6Address(host.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise TritonUrlError(f"{text!r}: {host!r} is not an IPv6 address") from None
    elif not _HOST.fullmatch(host):
        raise TritonUrlError(f"{text!r}: {host!r} is not a host name or address (IPv6 goes in brackets)")
    return Replica(host, int(port))


def parse(url: str) -> TritonUrl:
    """The url's form and replicas; TritonUrlError naming what is wrong."""
    if url != url.strip() or not url:
        raise TritonUrlError(f"{url!r} is empty or has spaces around it; the forms: {FORMS}")
    if url.startswith("dns:"):
        name = url.removeprefix("dns:")
        if not name.startswith("///"):
            raise TritonUrlError(f"{url!r}: write dns:///name:port (three slashes: no DNS server of its own)")
        return TritonUrl("dns", (_replica(name.removeprefix("///")),))
    if url.startswith("ipv4:"):
        entries = url.removeprefix("ipv4:").split(",")
        replicas = tuple(_replica(entry, ipv4_only=True) for entry in entries)
        if len(set(replicas)) != len(replicas):
            raise TritonUrlError(f"{url!r} lists a replica twice")
        return TritonUrl("ipv4", replicas)
    if "://" in url or "," in url:
        raise TritonUrlError(f"{url!r} is none of the forms {FORMS}")
    return TritonUrl("host", (_replica(url),))
