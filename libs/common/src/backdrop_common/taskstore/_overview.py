"""Operators' queries over every owner's tasks: search, queue backlog, recent throughput."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backdrop_common.db import Database
from backdrop_common.pagination import decode_cursor, encode_cursor
from backdrop_common.taskstore._sql import TaskId, TaskRow, as_uuid, fetch_all


def search_tasks(
    db: Database,
    *,
    status: str | None = None,
    processor: str | None = None,
    owner_id: TaskId | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[TaskRow], str | None]:
    """Every owner's tasks matching the filters, newest first; ``(rows, next_cursor)``.

    ``limit`` is clamped to 1..200; a bad cursor raises ``ValidationFailed``.
    """
    limit = max(1, min(int(limit), 200))
    args: dict[str, Any] = {
        "status": status,
        "processor": processor,
        "owner": as_uuid(owner_id),
        "after": created_after,
        "before": created_before,
        "n": limit + 1,
    }
    # Each filter is a fixed fragment switched on by its argument being set.
    where = [
        fragment
        for fragment, value in (
            ("status = %(status)s", status),
            ("processor = %(processor)s", processor),
            ("owner_id = %(owner)s", owner_id),
            ("created_at >= %(after)s", created_after),
            ("created_at < %(before)s", created_before),
        )
        if value is not None
    ]
    if cursor:
        args["ct"], args["ci"] = decode_cursor(cursor)
        where.append("(created_at, id) < (%(ct)s, %(ci)s)")
    rows = fetch_all(
        db,
        f"SELECT * FROM tasks.tasks WHERE {' AND '.join(where) or 'true'}"  # noqa: S608
        " ORDER BY created_at DESC, id DESC LIMIT %(n)s",
        args,
    )
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"])
    return rows, None


def backlog_by_processor(db: Database) -> dict[str, dict[str, Any]]:
    """Per processor: tasks ``queued`` and ``running`` now, ``held`` (queued and due but not
    sent: over their owner's fair share), and since when the oldest job on the stream waits
    for a worker (``oldest_queued_at``, from its admission; held tasks wait for their owner's
    own jobs, which more workers would not shorten, and retries not due wait for nobody)."""
    rows = fetch_all(
        db,
        "SELECT processor, count(*) FILTER (WHERE status = 'queued') AS queued,"
        " count(*) FILTER (WHERE status = 'running') AS running,"
        " count(*) FILTER (WHERE status = 'queued' AND dispatched_at IS NULL"
        "   AND coalesce(next_attempt_at, queued_at) <= now()) AS held,"
        " min(dispatched_at) FILTER (WHERE status = 'queued') AS oldest_queued_at"
        " FROM tasks.tasks WHERE status IN ('queued', 'running') GROUP BY processor",
        {},
    )
    return {r.pop("processor"): r for r in rows}


def finished_per_minute(db: Database, minutes: int = 15) -> list[dict[str, Any]]:
    """Tasks that reached ``succeeded``/``failed``/``cancelled`` in each of the last
    ``minutes`` minutes (oldest first; minutes with none are included as zeros)."""
    return fetch_all(
        db,
        """SELECT m.minute,
                  count(t.id) FILTER (WHERE t.status = 'succeeded') AS succeeded,
                  count(t.id) FILTER (WHERE t.status = 'failed') AS failed,
                  count(t.id) FILTER (WHERE t.status = 'cancelled') AS cancelled
           FROM generate_series(date_trunc('minute', now()) - make_interval(mins => %(m)s - 1),
                                date_trunc('minute', now()), interval '1 minute') AS m(minute)
           LEFT JOIN tasks.tasks t
             ON t.status IN ('succeeded', 'failed', 'cancelled')
            AND t.finished_at >= m.minute AND t.finished_at < m.minute + interval '1 minute'
           GROUP BY m.minute ORDER BY m.minute""",
        {"m": max(1, min(int(minutes), 120))},
    )


def running_by_worker(db: Database) -> dict[str, int]:
    """How many ``running`` tasks each worker id holds a lease on."""
    rows = fetch_all(
        db,
        "SELECT worker_id, count(*) AS n FROM tasks.tasks"
        " WHERE status = 'running' AND worker_id IS NOT NULL GROUP BY worker_id",
        {},
    )
    return {r["worker_id"]: int(r["n"]) for r in rows}
