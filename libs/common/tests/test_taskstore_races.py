"""Races and pagination: the guarded statements decide, not the callers' timing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from backdrop_common import taskstore as ts
from backdrop_common.db import Database
from backdrop_common.errors import ValidationFailed


def _race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_concurrent_claims_one_wins(db: Database, make_task: Callable[..., ts.TaskRow]) -> None:
    task = make_task()
    ts.mark_queued(db, task["id"])
    results = _race(10, lambda i: ts.claim(db, task["id"], f"w{i}", 30))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    row = ts.get_task(db, task["id"])
    assert row["attempts"] == 1 and row["worker_id"] == winners[0]["worker_id"]


def test_concurrent_idempotent_creates_one_task(db: Database) -> None:
    owner = uuid.uuid4()

    def create(_: int) -> tuple[ts.TaskRow, bool]:
        return ts.create_task(
            db, owner_id=owner, processor="checksum", params={}, filename="a.txt", size=3,
            content_type="text/plain", sha256=None, idempotency_key="same", request_hash="h",
            upload_window_s=60,
        )  # fmt: skip

    results = _race(20, create)
    assert sum(created for _, created in results) == 1
    assert len({row["id"] for row, _ in results}) == 1
    assert ts.count_unfinished(db, owner) == 1


def test_concurrent_queue_and_expire_one_wins(
    db: Database, make_task: Callable[..., ts.TaskRow]
) -> None:
    task = make_task()
    with db.cursor() as cur:
        cur.execute(
            "UPDATE tasks.tasks SET upload_expires_at = now() - interval '1 s' WHERE id = %s",
            (task["id"],),
        )
    results = _race(
        2, lambda i: ts.mark_queued(db, task["id"]) if i == 0 else ts.expire_uploads(db)
    )
    queued, expired = results[0] is not None, bool(results[1])
    assert queued != expired


def test_pagination_stable_with_equal_timestamps(
    db: Database, make_task: Callable[..., ts.TaskRow]
) -> None:
    owner = uuid.uuid4()
    ids = {make_task(owner_id=owner)["id"] for _ in range(25)}
    make_task()  # someone else's
    with db.cursor() as cur:  # the worst case for a cursor: identical created_at
        cur.execute(
            "UPDATE tasks.tasks SET created_at = '2025-01-01T00:00:00Z' WHERE owner_id = %s",
            (owner,),
        )
    seen: list[uuid.UUID] = []
    cursor = None
    pages = 0
    while True:
        rows, cursor = ts.list_tasks(db, owner, limit=10, cursor=cursor)
        seen += [r["id"] for r in rows]
        pages += 1
        if cursor is None:
            break
        # A task created between pages (newer) must not shift the next page.
        make_task(owner_id=owner)
    assert pages == 3 and len(seen) == 25 and set(seen) == ids
    assert seen == sorted(seen, reverse=True)


def test_list_filters_by_status_and_newest_first(
    db: Database, make_task: Callable[..., ts.TaskRow]
) -> None:
    owner = uuid.uuid4()
    first, second, third = (make_task(owner_id=owner) for _ in range(3))
    ts.mark_queued(db, second["id"])
    rows, cursor = ts.list_tasks(db, owner)
    assert [r["id"] for r in rows] == [third["id"], second["id"], first["id"]]
    assert cursor is None
    queued, _ = ts.list_tasks(db, owner, status="queued")
    assert [r["id"] for r in queued] == [second["id"]]
    assert ts.list_tasks(db, uuid.uuid4()) == ([], None)


@pytest.mark.parametrize("cursor", ["garbage", "eyJ0IjogMX0", "!!", "e30"])
def test_bad_cursor_is_a_validation_error(db: Database, cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        ts.list_tasks(db, uuid.uuid4(), cursor=cursor)
