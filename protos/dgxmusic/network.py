"""Addresses as the stack's servers and clients take them: HOST:PORT, and whether a host is this machine only (every
server listens on loopback unless told otherwise, and beyond it only with its callers' keys)."""

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether `host` (a name, an IPv4 or an IPv6 address, bracketed or not) reaches this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name, which may resolve to anything
        return False


def host_port(value: str) -> tuple[str, int]:
    """HOST:PORT ([::1]:PORT for IPv6) as (host, port); ValueError saying what is wrong."""
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"give HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)
