"""The retry policy: exponential backoff with full jitter, and when to give up.

A retryable failure (a processor's ``Retry``, a storage or database hiccup, a killed job
child) puts the task back in the queue with a not-before time (``next_attempt_at``): no
worker sleeps on the delay, the sweeper sends the job again once it is due. Attempt ``n``
waits a uniform random time in ``[0, min(cap, base * factor ** (n - 1))]``: "full jitter",
so tasks that failed together (an outage) come back spread out instead of in a herd. A task
that failed on its last attempt is ``failed`` with ``retries_exhausted`` (a dead letter);
final failures (a ``ProcessorError``, invalid input) never come here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

EXHAUSTED = "retries_exhausted"


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff and attempt limit; a processor may bring its own (``Processor.retry``)."""

    base_s: float = 2.0
    factor: float = 2.0
    cap_s: float = 300.0
    max_attempts: int | None = None
    """None: the task's own ``max_attempts`` (5 unless created otherwise)."""

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt ``attempt`` (1-based)."""
        exponent = max(0, attempt - 1)
        # min() before the power would overflow for huge attempt numbers.
        if self.factor > 1 and exponent > 64:
            return self.cap_s
        return float(min(self.cap_s, self.base_s * self.factor**exponent))

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """A delay drawn uniformly from ``[0, ceiling(attempt)]``."""
        return (rng or random).uniform(0.0, self.ceiling(attempt))

    def allows_another(self, attempts: int, task_max_attempts: int) -> bool:
        """Whether a task that has made ``attempts`` attempts may make one more."""
        return attempts < (self.max_attempts or task_max_attempts)


def exhausted_message(attempts: int, code: str, message: str) -> str:
    """The error message of a task that gave up: how many attempts, and the last cause."""
    plural = "attempt" if attempts == 1 else "attempts"
    return f"Gave up after {attempts} {plural}; the last failed with {code}: {message}"
