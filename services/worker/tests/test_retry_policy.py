"""The retry policy in ``finalise``: backoff with jitter, per-processor limits, exhausted tasks
keep every attempt's error."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from backdrop_common import taskstore
from backdrop_common.retries import EXHAUSTED, RetryPolicy
from worker.outcomes import finalise
from worker.protocol import Outcome
from worker.runtime import Runtime


def _claimed(runtime: Runtime, tasks: Any, attempts_before: int = 0) -> tuple[Any, Any]:
    row = tasks("checksum", b"data")
    if attempts_before:
        with tasks.db.cursor() as cur:
            cur.execute(
                "UPDATE tasks.tasks SET attempts = %s WHERE id = %s", (attempts_before, row["id"])
            )
    (delivery,) = runtime.consumer.read(1)
    claimed = taskstore.claim(tasks.db, row["id"], "me", 60)
    assert claimed is not None
    return claimed, delivery


def test_a_retry_without_a_delay_waits_a_jittered_backoff(runtime: Runtime, tasks: Any) -> None:
    runtime.settings.worker_retry_base_seconds = 30.0
    runtime.settings.worker_retry_factor = 2.0
    waits: dict[int, list[float]] = {1: [], 3: []}  # ceilings 30 s and 120 s
    for attempt, found in waits.items():
        for _ in range(4):
            row, delivery = _claimed(runtime, tasks, attempts_before=attempt - 1)
            finalise(runtime, delivery, row, Outcome("retry", message="S3 said 503"))
            after = tasks.get(row["id"])
            assert after["status"] == "queued" and after["enqueued_at"] is None  # nobody sleeps
            assert after["attempt_errors"][-1]["message"] == "S3 said 503"
            found.append((after["next_attempt_at"] - datetime.now(UTC)).total_seconds())
    assert all(-1 <= w <= 30 for w in waits[1]) and all(-1 <= w <= 120 for w in waits[3])
    # Jittered: four draws from the same range are not one fixed delay.
    assert max(waits[1]) - min(waits[1]) > 1 and max(waits[3]) - min(waits[3]) > 1


def test_the_last_attempt_fails_with_every_error_kept(runtime: Runtime, tasks: Any) -> None:
    row, delivery = _claimed(runtime, tasks, attempts_before=4)  # the 5th of 5
    finalise(runtime, delivery, row, Outcome("retry", code="upstream_busy", message="busy"))
    after = tasks.get(row["id"])
    assert (after["status"], after["error_code"]) == ("failed", EXHAUSTED)
    assert after["error_message"].startswith("Gave up after 5 attempts")
    assert "upstream_busy: busy" in after["error_message"]
    assert after["attempt_errors"][-1]["code"] == "upstream_busy"
    assert taskstore.list_dead_letters(tasks.db)[0][0]["id"] == row["id"]


def test_a_processor_brings_its_own_limit(runtime: Runtime, tasks: Any) -> None:
    checksum = runtime.processors["checksum"]
    runtime.processors["checksum"] = dataclasses.replace(
        checksum, retry=RetryPolicy(max_attempts=1)
    )
    row, delivery = _claimed(runtime, tasks)
    finalise(runtime, delivery, row, Outcome("retry", delay=0))
    assert tasks.get(row["id"])["error_code"] == EXHAUSTED
