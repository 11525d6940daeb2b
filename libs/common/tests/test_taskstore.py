"""Task store transitions: each guarded, so a repeated or misdirected call changes nothing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from backdrop_common import taskstore as ts
from backdrop_common.db import Database
from backdrop_common.errors import NotFound, TaskFinished, ValidationFailed

MakeTask = Callable[..., ts.TaskRow]


def _sql(db: Database, query: str, *args: Any) -> None:
    with db.cursor() as cur:
        cur.execute(query, args)


def _age(db: Database, task_id: Any, column: str, ago: str) -> None:
    """Move ``column`` of a task into the past (``ago`` like '1 h')."""
    query = f"UPDATE tasks.tasks SET {column} = now() - %s::interval WHERE id = %s"  # noqa: S608
    _sql(db, query, ago, task_id)


def _running(db: Database, make_task: MakeTask, worker: str = "w1") -> ts.TaskRow:
    task = make_task()
    assert ts.mark_queued(db, task["id"])
    row = ts.claim(db, task["id"], worker, 30)
    assert row is not None
    return row


def test_create_sets_key_and_defaults(db: Database, make_task: MakeTask) -> None:
    owner = uuid.uuid4()
    row = make_task(owner_id=owner, filename="../../etc/passwd", sha256="AB" * 32)
    assert row["status"] == "awaiting_upload"
    assert row["filename"] == "../../etc/passwd"  # kept for display
    assert row["object_key"] == f"users/{owner}/tasks/{row['id']}/input/passwd"
    assert row["sha256"] == "ab" * 32
    assert row["upload_expires_at"] > row["created_at"]
    doc = ts.task_json(row)
    assert doc["id"] == str(row["id"]) and doc["error"] is None
    assert doc["progress"] == {"fraction": 0.0, "stage": None, "message": None, "updated_at": None}
    assert doc["created_at"].endswith("Z")


def test_idempotent_create_returns_existing(db: Database, make_task: MakeTask) -> None:
    owner = uuid.uuid4()
    first = make_task(owner_id=owner, idempotency_key="k1", request_hash="h1")
    again, created = ts.create_task(
        db, owner_id=owner, processor="gzip", params={}, filename="x", size=1,
        content_type="a/b", sha256=None, idempotency_key="k1", request_hash="h2",
        upload_window_s=60,
    )  # fmt: skip
    assert not created and again["id"] == first["id"] and again["request_hash"] == "h1"
    other = make_task(idempotency_key="k1")  # same key, other owner: a new task
    assert other["id"] != first["id"]


def test_get_task_is_owner_scoped(db: Database, make_task: MakeTask) -> None:
    task = make_task()
    assert ts.get_task(db, task["id"])["id"] == task["id"]
    assert ts.get_task(db, str(task["id"]), task["owner_id"]) is not None
    assert ts.get_task(db, task["id"], uuid.uuid4()) is None
    assert ts.get_task(db, "not-a-uuid") is None


def test_queue_and_enqueue_once(db: Database, make_task: MakeTask) -> None:
    task = make_task()
    queued = ts.mark_queued(db, task["id"], multipart_upload_id="up-1")
    assert queued["status"] == "queued" and queued["queued_at"] is not None
    assert queued["multipart_upload_id"] == "up-1" and queued["enqueued_at"] is None
    assert ts.mark_queued(db, task["id"]) is None
    assert ts.mark_enqueued(db, task["id"])["enqueued_at"] is not None


def test_multipart_upload_id_set_once(db: Database, make_task: MakeTask) -> None:
    task = make_task()
    assert ts.set_multipart_upload(db, task["id"], "a")["multipart_upload_id"] == "a"
    assert ts.set_multipart_upload(db, task["id"], "b") is None
    assert ts.clear_multipart_upload(db, task["id"])["multipart_upload_id"] is None


def test_claim_guards(db: Database, make_task: MakeTask) -> None:
    task = make_task()
    assert ts.claim(db, task["id"], "w1", 30) is None  # not queued yet
    ts.mark_queued(db, task["id"])
    row = ts.claim(db, task["id"], "w1", 30)
    assert row["status"] == "running" and row["attempts"] == 1 and row["worker_id"] == "w1"
    assert ts.claim(db, task["id"], "w2", 30) is None  # lease held
    _age(db, task["id"], "lease_until", "1 s")
    stolen = ts.claim(db, task["id"], "w2", 30)
    assert stolen["worker_id"] == "w2" and stolen["attempts"] == 2
    assert ts.extend_lease(db, task["id"], "w1", 30) is None
    assert ts.extend_lease(db, task["id"], "w2", 30) is not None


def test_a_new_attempt_starts_with_no_progress(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task, "w1")
    assert ts.save_progress(db, task["id"], "w1", 0.8, "hashing", "most") is not None
    _age(db, task["id"], "lease_until", "1 s")
    again = ts.claim(db, task["id"], "w2", 30)
    assert again is not None and again["attempts"] == 2
    progress = ts.task_json(again)["progress"]
    assert (progress["fraction"], progress["stage"], progress["message"]) == (0.0, None, None)


def test_a_task_whose_cancel_was_accepted_never_succeeds(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task, "w1")
    ts.request_cancel(db, task["id"], None)
    assert ts.mark_succeeded(db, task["id"], "w1", {"x": 1}, []) is None
    assert ts.mark_cancelled(db, task["id"], "w1")["status"] == "cancelled"


def test_lease_renewal_reports_a_cancel_request(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task, "w1")
    assert ts.extend_lease(db, task["id"], "w1", 30)["cancel_requested"] is False
    ts.request_cancel(db, task["id"], None)
    assert ts.extend_lease(db, task["id"], "w1", 30)["cancel_requested"] is True


def test_only_lease_holder_finishes(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task, "w1")
    assert ts.mark_succeeded(db, task["id"], "w2", {"x": 1}, []) is None
    assert ts.mark_failed(db, task["id"], "w2", "boom", "no") is None
    assert ts.save_progress(db, task["id"], "w2", 0.5, "s", "m") is None
    assert ts.requeue(db, task["id"], "w2") is None
    assert ts.mark_cancelled(db, task["id"], "w2") is None
    saved = ts.save_progress(db, task["id"], "w1", 1.7, "hashing", "half")
    assert saved["progress_fraction"] == 1.0 and saved["progress_stage"] == "hashing"
    artifacts = [{"name": "a.gz", "key": "k", "size": 3, "content_type": "application/gzip"}]
    done = ts.mark_succeeded(db, task["id"], "w1", {"bytes": 11}, artifacts)
    assert done["status"] == "succeeded" and done["result"] == {"bytes": 11}
    assert done["artifacts"] == artifacts and done["finished_at"] is not None
    assert ts.mark_succeeded(db, task["id"], "w1", {"bytes": 12}, []) is None
    assert ts.mark_failed(db, task["id"], "w1", "late", "x") is None
    assert ts.get_task(db, task["id"])["result"] == {"bytes": 11}


def test_failed_and_admin_retry(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task)
    failed = ts.mark_failed(db, task["id"], "w1", "processor_error", "bad input")
    assert failed["status"] == "failed"
    assert ts.task_json(failed)["error"] == {"code": "processor_error", "message": "bad input"}
    assert ts.list_tasks(db, None, status="failed")[0][0]["id"] == task["id"]
    retried = ts.retry_failed(db, task["id"])
    assert retried["status"] == "queued" and retried["attempts"] == 0
    assert retried["error_code"] is None
    assert ts.retry_failed(db, task["id"]) is None


def test_requeue_with_delay_blocks_early_claim(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task)
    row = ts.requeue(db, task["id"], "w1", delay_s=60, error=("timeout", "too slow"))
    assert row["status"] == "queued" and row["worker_id"] is None
    assert row["next_attempt_at"] > row["queued_at"] and row["error_code"] == "timeout"
    assert ts.requeue(db, task["id"], "w1") is None
    assert ts.claim(db, task["id"], "w2", 30) is None  # backoff not over
    assert row["dispatched_at"] is None  # the retry goes through admission again ...
    assert ts.admit_waiting(db, task["owner_id"], 10) == []  # ... once its time has come
    _sql(db, "UPDATE tasks.tasks SET next_attempt_at = now() WHERE id = %s", task["id"])
    assert [r["id"] for r in ts.admit_waiting(db, task["owner_id"], 10)] == [task["id"]]
    assert ts.claim(db, task["id"], "w2", 30)["attempts"] == 2


def test_hand_back_refunds_the_attempt(db: Database, make_task: MakeTask) -> None:
    task = _running(db, make_task)
    row = ts.requeue(db, task["id"], "w1", refund_attempt=True)
    assert row["attempts"] == 0 and row["status"] == "queued"


def test_request_cancel(db: Database, make_task: MakeTask) -> None:
    waiting = make_task()
    cancelled = ts.request_cancel(db, waiting["id"], waiting["owner_id"])
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    with pytest.raises(TaskFinished):
        ts.request_cancel(db, waiting["id"], waiting["owner_id"])
    with pytest.raises(NotFound):
        ts.request_cancel(db, waiting["id"], uuid.uuid4())
    with pytest.raises(NotFound):
        ts.request_cancel(db, "nope", waiting["owner_id"])
    assert ts.mark_queued(db, waiting["id"]) is None

    running = _running(db, make_task)
    flagged = ts.request_cancel(db, running["id"], None)
    assert flagged["status"] == "running" and flagged["cancel_requested"]
    assert ts.mark_cancelled(db, running["id"], "w1", reason="stopped")["status"] == "cancelled"
    assert ts.mark_cancelled(db, running["id"], "w1") is None


def test_expire_uploads(db: Database, make_task: MakeTask) -> None:
    old = make_task(upload_window_s=0.001)
    fresh = make_task()
    _age(db, old["id"], "upload_expires_at", "1 s")
    expired = ts.expire_uploads(db)
    assert [r["id"] for r in expired] == [old["id"]] and expired[0]["status"] == "expired"
    assert ts.expire_uploads(db) == []
    assert ts.get_task(db, fresh["id"])["status"] == "awaiting_upload"
    assert ts.mark_queued(db, old["id"]) is None


def test_due_for_enqueue_relays_unconfirmed_jobs(db: Database, make_task: MakeTask) -> None:
    task = make_task()
    ts.mark_queued(db, task["id"])
    assert ts.due_for_enqueue(db, older_than_s=0) == []  # not admitted: admission's job
    ts.admit_waiting(db, task["owner_id"], 1)
    assert ts.due_for_enqueue(db, older_than_s=60) == []  # the sender is on it
    assert [r["id"] for r in ts.due_for_enqueue(db, older_than_s=0)] == [task["id"]]
    sent = ts.mark_enqueued(db, task["id"], "1-0")
    assert sent["stream_entry_id"] == "1-0"
    assert ts.due_for_enqueue(db, older_than_s=0) == []
    # A confirmation without an entry id keeps the recorded one.
    assert ts.mark_enqueued(db, task["id"])["stream_entry_id"] == "1-0"


def test_deliveries_to_check(db: Database, make_task: MakeTask) -> None:
    task = make_task()
    ts.mark_queued(db, task["id"])
    ts.admit_waiting(db, task["owner_id"], 1)
    assert ts.deliveries_to_check(db, older_than_s=0) == []  # never sent: the relay's job
    ts.mark_enqueued(db, task["id"], "1-0")
    _age(db, task["id"], "enqueued_at", "1 h")
    assert ts.deliveries_to_check(db, older_than_s=7200) == []
    assert len(ts.deliveries_to_check(db, older_than_s=60)) == 1
    ts.claim(db, task["id"], "w1", 30)
    assert ts.deliveries_to_check(db, older_than_s=0) == []  # its worker holds the lease
    _age(db, task["id"], "lease_until", "1 h")
    assert len(ts.deliveries_to_check(db, older_than_s=60)) == 1
    ts.mark_enqueued(db, task["id"])  # just checked: not again before older_than_s
    assert ts.deliveries_to_check(db, older_than_s=60) == []


def test_count_unfinished_and_by_status(db: Database, make_task: MakeTask) -> None:
    owner = uuid.uuid4()
    a, b, _ = (make_task(owner_id=owner) for _ in range(3))
    ts.request_cancel(db, a["id"], owner)
    ts.mark_queued(db, b["id"])
    make_task()
    assert ts.count_unfinished(db, owner) == 2
    assert ts.count_by_status(db) == {"awaiting_upload": 2, "cancelled": 1, "queued": 1}


def test_task_json_overlays_cache_only_while_running(db: Database, make_task: MakeTask) -> None:
    cache = {"fraction": 0.4, "stage": "s", "message": "m", "updated_at": "2025-01-01T00:00:00Z"}
    task = make_task()
    assert ts.task_json(task, cache)["progress"]["fraction"] == 0.0
    running = _running(db, make_task)
    doc = ts.task_json(running, cache)
    assert doc["progress"] == cache and doc["attempts"] == 1


@pytest.mark.parametrize(
    "doc",
    [
        {"t": "2026-01-01T00:00:00+00:00", "i": 123},
        {"t": "2026-01-01T00:00:00+00:00", "i": ["a"]},
        {"t": "2026-01-01T00:00:00+00:00", "i": {"x": 1}},
        {"t": 5, "i": str(uuid.uuid4())},
        ["not", "an", "object"],
        "a string",
    ],
)
def test_forged_cursor_is_a_validation_error(db: Database, doc: Any) -> None:
    # Found by fuzzing: an id that is a number made uuid.UUID() raise AttributeError (a 500).
    raw = json.dumps(doc).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(ValidationFailed):
        ts.list_tasks(db, uuid.uuid4(), cursor=cursor)


def _shapes(db: Database, make_task: MakeTask, owner: uuid.UUID) -> list[Any]:
    """Tasks of one owner in every shape a Task document takes; their ids."""
    odd = 'quote " backslash \\ newline \n tab \t \u00e9 \u2603 \U0001f600 </script>'
    seed = make_task(owner_id=owner, size=None, sha256="AB" * 32, params={}, filename=odd)
    big = make_task(owner_id=owner, size=2**53 + 1, params={"nested": {"a": [1, 2.5, None]}})
    running = _running(db, _owned(make_task, owner))
    ts.save_progress(db, running["id"], "w1", 1 / 3, "hashing", odd)
    retried = _running(db, _owned(make_task, owner))
    ts.requeue(db, retried["id"], "w1", delay_s=60, error=("timeout", odd))
    done = _running(db, _owned(make_task, owner))
    ts.mark_succeeded(db, done["id"], "w1", {"bytes": 11})
    failed = _running(db, _owned(make_task, owner))
    ts.mark_failed(db, failed["id"], "w1", "processor_error", "bad input")
    cancelled = make_task(owner_id=owner)
    ts.request_cancel(db, cancelled["id"], owner)
    # Whole seconds: rfc3339 leaves the zero microseconds out, so must PostgreSQL.
    _sql(
        db,
        "UPDATE tasks.tasks SET created_at = date_trunc('second', created_at),"
        " updated_at = date_trunc('second', updated_at),"
        " finished_at = date_trunc('second', finished_at),"
        " upload_expires_at = date_trunc('second', upload_expires_at) WHERE id = %s",
        cancelled["id"],
    )
    # An empty error code is no error, for task_json as for PostgreSQL.
    _sql(
        db, "UPDATE tasks.tasks SET error_code = '', error_message = 'x' WHERE id = %s", seed["id"]
    )
    return [t["id"] for t in (seed, big, running, retried, done, failed, cancelled)]


def _owned(make_task: MakeTask, owner: uuid.UUID) -> MakeTask:
    return lambda **fields: make_task(owner_id=owner, **fields)


def test_postgresql_keeps_the_same_document_as_task_json(db: Database, make_task: MakeTask) -> None:
    # The task read and the list answer with the document PostgreSQL keeps in the row (its
    # trigger writes it), every other answer and event with task_json's: the two must not
    # drift apart. A field added to one and not the other, a timestamp or an escape written
    # differently, a write that leaves the document behind fails here.
    owner = uuid.uuid4()
    ids = _shapes(db, make_task, owner)
    for task_id in ids:
        row = ts.get_owned_document(db, task_id, owner)
        whole = ts.get_task(db, task_id)
        assert whole is not None
        doc, expected = json.loads(row["doc"]), ts.task_json(whole)
        assert doc == expected, whole["status"]
        assert list(doc) == list(expected) and list(doc["progress"]) == list(expected["progress"])
        assert (row["id"], row["status"]) == (str(task_id), whole["status"])
        # The same document whatever time zone and float digits the writing session uses.
        with db.cursor() as cur:
            cur.execute("SET LOCAL TIME ZONE 'Asia/Kolkata'")
            cur.execute("SET LOCAL extra_float_digits = 0")
            cur.execute("UPDATE tasks.tasks SET size = size WHERE id = %s", (task_id,))
        assert ts.get_owned_document(db, task_id, owner)["doc"] == row["doc"]
    cursor = None
    for _ in ids:  # one task a page: every page and every cursor as the whole rows' listing
        page, next_cursor = ts.list_tasks(db, owner, limit=1, cursor=cursor, documents=True)
        rows, expected_cursor = ts.list_tasks(db, owner, limit=1, cursor=cursor)
        assert [json.loads(r["doc"]) for r in page] == [ts.task_json(r) for r in rows]
        assert next_cursor == expected_cursor
        cursor = next_cursor
    assert cursor is None
    page, _ = ts.list_tasks(db, owner, status="failed", documents=True)
    assert [r["status"] for r in page] == ["failed"]
    with pytest.raises(NotFound):
        ts.get_owned_document(db, ids[0], uuid.uuid4())  # someone else's
    with pytest.raises(NotFound):
        ts.get_owned_document(db, "not-a-uuid", owner)
