"""Timestamps as the API writes them: RFC 3339 in UTC with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def rfc3339(value: datetime) -> str: ...


@overload
def rfc3339(value: None) -> None: ...


def rfc3339(value: datetime | None) -> str | None:
    """``value`` in UTC as RFC 3339 ending in ``Z`` (microseconds kept), or None for None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utc_now() -> str:
    """The current time as RFC 3339 UTC (``rfc3339`` of now)."""
    return rfc3339(datetime.now(UTC))
