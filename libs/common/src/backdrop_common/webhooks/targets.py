"""Where a webhook may go: ``http``/``https`` URLs whose host resolves only to public
addresses. Loopback, private, link-local (cloud metadata: 169.254.169.254), shared,
multicast, reserved and unspecified addresses are refused unless an allow-list network
(``BACKDROP_WEBHOOK_ALLOW_NETWORKS``) contains them. Checked when a URL is registered and
again before every attempt (a name may resolve elsewhere later)."""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeTarget(ValueError):
    """The URL is not one Backdrop will send to (the message says why)."""


# IPv6 prefixes that carry an IPv4 address a gateway forwards to: NAT64 (RFC 6052) and 6to4.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one reaches (IPv4-mapped, NAT64 or 6to4), else itself: the
    check judges where a packet ends up, e.g. ``64:ff9b::a9fe:a9fe`` is 169.254.169.254."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour or address


def check_target(url: str, allow: Sequence[str] = ()) -> list[IPAddress]:
    """The addresses ``url``'s host resolves to (at least one), or ``UnsafeTarget``; a
    sender connects to one of these, not to the name (which may resolve elsewhere by then)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("Only http and https URLs with a host are accepted.")
    if parts.username or parts.password:
        raise UnsafeTarget("Credentials in the URL are not accepted.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise UnsafeTarget("The host does not resolve.") from exc
    networks = [ipaddress.ip_network(n, strict=False) for n in allow]
    addresses = []
    for info in infos:
        address = _embedded(ipaddress.ip_address(info[4][0]))
        allowed = any(address.version == n.version and address in n for n in networks)
        if not address.is_global and not allowed:
            raise UnsafeTarget(f"The host resolves to a non-public address ({address}).")
        addresses.append(address)
    if not addresses:
        raise UnsafeTarget("The host does not resolve.")
    return addresses
