"""What counts as a real secret, and where placeholder secrets may be used at all.

A production secret must be long and varied: an exact-match list of placeholders let
``a``, ``password``, ``CHANGEME`` and a value with a stray leading space through. The rule
is deliberately simple (length, no surrounding whitespace, enough distinct characters), so
``openssl rand -hex 32`` or a cloud provider's generated key passes and a word does not.

``BACKDROP_ENV=development`` accepts placeholders (the dev stack, the Kubernetes dev overlay).
``BACKDROP_ENV=test`` accepts them only while every backing service is on this machine's
loopback, so setting it in a deployment cannot switch the check off.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

MIN_LENGTH = 32
MIN_DISTINCT = 12
PLACEHOLDERS = frozenset({"dev-insecure-change-me", "backdrop-secret", "changeme", "secret"})


def weakness(value: str) -> str | None:
    """Why ``value`` is not a real secret (never quoting it), or None when it is one."""
    if not value:
        return "is unset"
    if value.strip().lower() in PLACEHOLDERS:
        return "is a placeholder from this repository"
    if value != value.strip():
        return "starts or ends with whitespace (a copy-paste slip?)"
    if len(value) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if len(set(value)) < MIN_DISTINCT:
        return f"has fewer than {MIN_DISTINCT} distinct characters (a repeated pattern?)"
    return None


def on_loopback(url: str) -> bool:
    """True when ``url`` names this machine (loopback address, ``localhost``, a local socket)."""
    parts = urlsplit(url)
    if not parts.scheme:
        return False  # a key=value DSN or garbage: not provably local
    host = parts.hostname
    if not host:
        return True  # postgresql:///db, unix sockets
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def all_on_loopback(urls: Iterable[str]) -> bool:
    """True when every URL in ``urls`` is local to this machine."""
    return all(on_loopback(url) for url in urls)
