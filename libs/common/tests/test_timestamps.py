"""RFC 3339 timestamps as the API writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from backdrop_common.timestamps import rfc3339

MOMENT = datetime(2026, 12, 7, 11, 52, 33, 123456, tzinfo=UTC)
INDIA = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MOMENT, "2026-12-07T11:52:33.123456Z"),
        (MOMENT.replace(microsecond=0), "2026-12-07T11:52:33Z"),  # as isoformat: no ".000000"
        (MOMENT.replace(microsecond=1000), "2026-12-07T11:52:33.001000Z"),
        (MOMENT.astimezone(INDIA), "2026-12-07T11:52:33.123456Z"),
        (MOMENT.astimezone(timezone(timedelta(hours=-8))), "2026-12-07T11:52:33.123456Z"),
        (MOMENT.replace(tzinfo=timezone(timedelta(0))), "2026-12-07T11:52:33.123456Z"),
        # A zone at offset zero that is not UTC itself (London in winter), and in summer.
        (MOMENT.astimezone(ZoneInfo("Europe/London")), "2026-12-07T11:52:33.123456Z"),
        (datetime(2026, 7, 7, 12, 0, tzinfo=ZoneInfo("Europe/London")), "2026-07-07T11:00:00Z"),
        (None, None),
    ],
)
def test_rfc3339_is_utc_with_a_z(value: datetime | None, expected: str | None) -> None:
    assert rfc3339(value) == expected


def test_a_naive_value_is_taken_as_local_time() -> None:
    naive = datetime(2026, 12, 7, 11, 52, 33)
    assert rfc3339(naive) == naive.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Subclass(datetime):
    """A datetime subclass, as pandas' ``Timestamp`` or freezegun's clock hand out."""


def test_a_datetime_subclass_is_written_the_same_way() -> None:
    value = _Subclass(2026, 12, 7, 11, 52, 33, 123456, tzinfo=UTC)
    assert rfc3339(value) == "2026-12-07T11:52:33.123456Z"
    assert rfc3339(value.astimezone(INDIA)) == "2026-12-07T11:52:33.123456Z"
