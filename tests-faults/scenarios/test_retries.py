"""Scenario 6: retries. A processor that fails twice then succeeds (3 attempts, with backoff);
one that always fails (dead letter, then retried by an operator once fixed); one whose
process dies on every attempt (stops at the poison limit, never blocks other work)."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import datetime

import pytest
from backdrop_common import taskstore
from backdrop_common.db import Database
from faultkit.load import rows, wait_terminal


def _submit(world, processor: str, params: dict) -> str:
    task = world.client.submit(processor, b"retry me", params=params, filename="r.txt")
    return str(task["id"])


@pytest.mark.timeout(240)
def test_fails_twice_then_succeeds(world, report) -> None:
    started = time.monotonic()
    tag = uuid.uuid4().hex
    task_id = _submit(world, "fault-flaky", {"tag": tag, "state_dir": str(world.state)})
    assert wait_terminal(world.db_url, [task_id], 120) is not None
    (row,) = rows(world.db_url, [task_id])
    history = row["attempt_errors"]
    gaps = [
        (datetime.fromisoformat(b["at"]) - datetime.fromisoformat(a["at"])).total_seconds()
        for a, b in itertools.pairwise(history)
    ]
    report.append(
        f"retry-flaky: tasks=1 attempts={row['attempts']} status={row['status']}"
        f" failures={len(history)} gaps_s={[round(g, 2) for g in gaps]}"
        f" wall_s={time.monotonic() - started:.0f}"
    )
    assert (row["status"], row["attempts"], len(history)) == ("succeeded", 3, 2)


@pytest.mark.timeout(240)
def test_always_fails_is_dead_lettered_then_retried(world, report) -> None:
    started = time.monotonic()
    tag = uuid.uuid4().hex
    params = {"tag": tag, "state_dir": str(world.state), "fail_times": 1000}
    task_id = _submit(world, "fault-flaky", params)
    assert wait_terminal(world.db_url, [task_id], 150) is not None
    (row,) = rows(world.db_url, [task_id])
    assert (row["status"], row["error_code"]) == ("failed", taskstore.EXHAUSTED)
    assert row["attempts"] == row["max_attempts"] == len(row["attempt_errors"])
    db = Database(world.db_url)
    try:
        assert task_id in {str(r["id"]) for r in taskstore.list_dead_letters(db, limit=100)[0]}
        (world.state / f"{tag}.heal").touch()  # the operator fixes the cause ...
        assert taskstore.retry_failed(db, task_id) is not None  # ... and retries it
    finally:
        db.close()
    assert wait_terminal(world.db_url, [task_id], 60) is not None
    (again,) = rows(world.db_url, [task_id])
    report.append(
        f"retry-dead-letter: tasks=1 attempts_before_retry={row['attempts']}"
        f" after_operator_retry={again['status']} wall_s={time.monotonic() - started:.0f}"
    )
    assert again["status"] == "succeeded"


@pytest.mark.timeout(240)
def test_poison_stops_at_the_limit(world, report) -> None:
    started = time.monotonic()
    task_id = _submit(world, "fault-crash", {})
    assert wait_terminal(world.db_url, [task_id], 180) is not None
    (row,) = rows(world.db_url, [task_id])
    report.append(
        f"retry-poison: tasks=1 attempts={row['attempts']} status={row['status']}"
        f" code={row['error_code']} wall_s={time.monotonic() - started:.0f}"
    )
    assert (row["status"], row["error_code"]) == ("failed", taskstore.EXHAUSTED)
    assert row["attempts"] == row["max_attempts"]
