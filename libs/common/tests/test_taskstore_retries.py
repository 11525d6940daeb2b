"""Attempt history (``attempt_errors``) and dead letters in the task store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from backdrop_common import taskstore as ts
from backdrop_common.db import Database
from backdrop_common.errors import ValidationFailed

MakeTask = Callable[..., ts.TaskRow]


def _running(db: Database, make_task: MakeTask, **overrides: Any) -> ts.TaskRow:
    task = make_task(**overrides)
    ts.mark_queued(db, task["id"])
    row = ts.claim(db, task["id"], "w1", 30)
    assert row is not None
    return row


def _retry_now(db: Database, task_id: Any) -> ts.TaskRow:
    with db.cursor() as cur:
        cur.execute("UPDATE tasks.tasks SET next_attempt_at = now() WHERE id = %s", (task_id,))
    row = ts.claim(db, task_id, "w1", 30)
    assert row is not None
    return row


def _exhaust(db: Database, make_task: MakeTask, processor: str = "checksum") -> ts.TaskRow:
    task = _running(db, make_task, processor=processor)
    row = ts.mark_failed(
        db, task["id"], "w1", ts.EXHAUSTED, "1 attempt", attempt_error=("timeout", "slow")
    )
    assert row is not None
    return row


def test_every_failed_attempt_is_kept_in_order(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task)
    ts.requeue(db, task["id"], "w1", delay_s=60, error=("storage_unavailable", "S3 timed out"))
    _retry_now(db, task["id"])
    # The worker of attempt 2 dies; another takes the lapsed lease over.
    with db.cursor() as cur:
        cur.execute("UPDATE tasks.tasks SET lease_until = now() - interval '1 s'")
    assert ts.claim(db, task["id"], "w2", 30)["attempts"] == 3
    failed = ts.mark_failed(
        db, task["id"], "w2", ts.EXHAUSTED, "3 attempts", attempt_error=("boom", "it broke")
    )
    history = ts.task_json(failed)["attempt_errors"]
    assert [(e["attempt"], e["code"]) for e in history] == [
        (1, "storage_unavailable"),
        (2, ts.WORKER_LOST[0]),
        (3, "boom"),
    ]
    assert history[0]["message"] == "S3 timed out" and history[0]["at"].endswith("Z")
    assert ts.task_json(failed)["error"] == {"code": ts.EXHAUSTED, "message": "3 attempts"}


def test_hand_back_and_plain_requeue_add_no_history(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task)
    assert ts.requeue(db, task["id"], "w1", refund_attempt=True)["attempt_errors"] == []
    again = ts.claim(db, task["id"], "w1", 30)
    assert ts.requeue(db, again["id"], "w1")["attempt_errors"] == []


def test_final_failure_records_its_own_error(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task)
    failed = ts.mark_failed(db, task["id"], "w1", "invalid_input", "not a CSV")
    assert [e["code"] for e in failed["attempt_errors"]] == ["invalid_input"]
    assert ts.list_dead_letters(db) == ([], None)  # failed at once: not a dead letter


def test_dead_letters_list_newest_first_with_cursor(db: Database, make_task: MakeTask) -> None:
    first, second, third = (_exhaust(db, make_task) for _ in range(3))
    gzip = _exhaust(db, make_task, processor="gzip")
    page, cursor = ts.list_dead_letters(db, limit=2)
    assert [r["id"] for r in page] == [gzip["id"], third["id"]] and cursor
    rest, end = ts.list_dead_letters(db, limit=2, cursor=cursor)
    assert [r["id"] for r in rest] == [second["id"], first["id"]] and end is None
    assert [r["id"] for r in ts.list_dead_letters(db, processor="gzip")[0]] == [gzip["id"]]
    assert ts.count_dead_letters(db) == 4
    with pytest.raises(ValidationFailed):
        ts.list_dead_letters(db, cursor="garbage")


def test_discard_takes_a_dead_letter_off_the_list(db: Database, make_task: MakeTask) -> None:
    dead = _exhaust(db, make_task)
    discarded = ts.discard_dead_letter(db, dead["id"])
    assert discarded["status"] == "failed" and discarded["discarded_at"] is not None
    assert ts.discard_dead_letter(db, dead["id"]) is None
    assert ts.list_dead_letters(db) == ([], None) and ts.count_dead_letters(db) == 0
    plain = _running(db, make_task)
    ts.mark_failed(db, plain["id"], "w1", "invalid_input", "no")
    assert ts.discard_dead_letter(db, plain["id"]) is None  # not a dead letter


def test_retry_of_a_dead_letter_keeps_its_history(db: Database, make_task: MakeTask) -> None:
    dead = _exhaust(db, make_task)
    retried = ts.retry_failed(db, dead["id"])
    assert retried["status"] == "queued" and retried["attempts"] == 0
    assert retried["error_code"] is None and retried["enqueued_at"] is None
    assert [e["code"] for e in retried["attempt_errors"]] == ["timeout"]
    # Sent again through its owner's fair share, like a new job.
    assert [r["id"] for r in ts.admit_waiting(db, dead["owner_id"], 1)] == [dead["id"]]
    assert ts.list_dead_letters(db) == ([], None)
    assert ts.retry_failed(db, dead["id"]) is None
