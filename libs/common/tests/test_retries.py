"""The retry policy: exponential ceilings, full jitter within them, the attempt limit."""

from __future__ import annotations

import random

import pytest
from backdrop_common.retries import RetryPolicy, exhausted_message


def test_ceilings_grow_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=1.0, factor=2.0, cap_s=10.0)
    assert [policy.ceiling(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.ceiling(10_000) == 10.0  # no overflow for absurd attempt numbers


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    policy = RetryPolicy(base_s=1.0, factor=3.0, cap_s=100.0)
    rng = random.Random(7)
    delays = [policy.backoff(3, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 9.0 for d in delays)
    # Full jitter, not "half" or "equal" jitter: short waits are as likely as long ones.
    assert min(delays) < 0.5 and max(delays) > 8.5
    assert 4.0 < sum(delays) / len(delays) < 5.0


@pytest.mark.parametrize(
    ("own_max", "attempts", "task_max", "another"),
    [(None, 4, 5, True), (None, 5, 5, False), (2, 2, 5, False), (8, 6, 5, True)],
)
def test_attempt_limit(own_max: int | None, attempts: int, task_max: int, another: bool) -> None:
    assert RetryPolicy(max_attempts=own_max).allows_another(attempts, task_max) is another


def test_exhausted_message_names_the_last_cause() -> None:
    text = exhausted_message(3, "storage_unavailable", "S3 timed out")
    assert (
        text == "Gave up after 3 attempts; the last failed with storage_unavailable: S3 timed out"
    )
