"""Creating, reading and listing tasks, and the sweeper's queries."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

from psycopg2.extras import Json

from backdrop_common.db import Database
from backdrop_common.errors import NotFound
from backdrop_common.pagination import decode_cursor, encode_cursor
from backdrop_common.storage import input_key
from backdrop_common.taskstore._document import DOCUMENT_COLUMNS
from backdrop_common.taskstore._sql import (
    TaskId,
    TaskRow,
    as_uuid,
    fetch_all,
    fetch_one,
)
from backdrop_common.tracing import current_traceparent

_INSERT_TASK = """INSERT INTO tasks.tasks (id, owner_id, processor, params, filename, size,
       content_type, sha256, object_key, idempotency_key, request_hash, max_attempts,
       upload_expires_at, traceparent)
   VALUES (%(id)s, %(owner)s, %(processor)s, %(params)s, %(filename)s, %(size)s, %(ctype)s,
       %(sha)s, %(key)s, %(ikey)s, %(rhash)s, %(max)s,
       now() + make_interval(secs => %(window)s), %(trace)s)
   ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL
   DO NOTHING RETURNING *"""


def create_task(
    db: Database,
    *,
    owner_id: TaskId,
    processor: str,
    params: Mapping[str, Any] | None,
    filename: str,
    size: int | None,
    content_type: str,
    sha256: str | None,
    idempotency_key: str | None,
    request_hash: str | None,
    upload_window_s: float,
    max_attempts: int = 5,
) -> tuple[TaskRow, bool]:
    """Insert an ``awaiting_upload`` task; ``(existing, False)`` when the key was used before.

    ``size`` None: not known yet (a seed client); ``mark_queued`` records it. The caller
    compares ``request_hash`` of an existing task (mismatch → 422).

    The INSERT commits by itself (autocommit): a connection lost while it runs is
    ``Unavailable`` and the task may exist. Retried with the same Idempotency-Key, the
    creation returns it; without a key a retry makes a second task, and the first expires
    with its upload window (as after a connection lost during a COMMIT).
    """
    owner = as_uuid(owner_id)
    if owner is None:
        raise ValueError("owner_id is not a UUID")
    task_id = uuid.uuid4()
    args = {
        "id": task_id,
        "owner": owner,
        "processor": processor,
        "params": Json(dict(params or {})),
        "filename": filename,
        "size": size,
        "ctype": content_type,
        "sha": sha256.lower() if sha256 else None,
        "key": input_key(owner, task_id, filename),
        "ikey": idempotency_key,
        "rhash": request_hash,
        "window": float(upload_window_s),
        "max": max_attempts,
        "trace": current_traceparent(),
    }
    for _ in range(3):
        # One statement in autocommit, planned once per connection (a creation used to cost
        # BEGIN, a freshly planned INSERT and COMMIT). ON CONFLICT waits for a racing insert
        # of the same key to commit; the read after it is a new snapshot, so it sees that
        # task: 20 racers, one task.
        row = fetch_one(db, _INSERT_TASK, args, single=True)
        if row:
            return row, True
        # No row: the key's arbiter index conflicted, so there is a key.
        existing = get_task_by_idempotency_key(db, owner, cast(str, idempotency_key))
        if existing:
            return existing, False
        # The task that won was deleted between our two statements: insert again.
    raise RuntimeError("could not create or find the task for this idempotency key")


def get_task(
    db: Database, task_id: TaskId, owner_id: TaskId | None = None, *, columns: str = "*"
) -> TaskRow | None:
    """The task, or None (also for a malformed id, or another owner's task); ``columns``
    (a literal, e.g. ``"id"``) limits what is read."""
    tid = as_uuid(task_id)
    if tid is None:
        return None
    if owner_id is None:
        return fetch_one(
            db,
            f"SELECT {columns} FROM tasks.tasks WHERE id = %(id)s",  # noqa: S608 - literals only
            {"id": tid},
            read=True,
        )
    return fetch_one(
        db,
        f"SELECT {columns} FROM tasks.tasks WHERE id = %(id)s AND owner_id = %(owner)s",  # noqa: S608
        {"id": tid, "owner": as_uuid(owner_id)},
        read=True,
    )


def get_owned_task(
    db: Database, task_id: TaskId, owner_id: TaskId, *, columns: str = "*"
) -> TaskRow:
    """The owner's task, or ``NotFound`` (also when it belongs to someone else)."""
    row = get_task(db, task_id, owner_id=owner_id, columns=columns)
    if row is None:
        raise NotFound("No such task.")
    return row


def get_owned_document(db: Database, task_id: TaskId, owner_id: TaskId) -> TaskRow:
    """The owner's task as ``{doc, id, status}`` (``DOCUMENT_COLUMNS``), or ``NotFound``
    (also for a malformed id or someone else's task)."""
    tid = as_uuid(task_id)
    row = None
    if tid is not None:
        row = fetch_one(
            db,
            f"SELECT {DOCUMENT_COLUMNS} FROM tasks.tasks"  # noqa: S608 - literals
            " WHERE tasks.id = %(id)s AND tasks.owner_id = %(owner)s",
            {"id": tid, "owner": as_uuid(owner_id)},
            read=True,
        )
    if row is None:
        raise NotFound("No such task.")
    return row


def get_task_by_idempotency_key(db: Database, owner_id: TaskId, key: str) -> TaskRow | None:
    """The owner's task created with Idempotency-Key ``key``, or None.

    The gateway looks a replay up before its per-user cap, so retrying a create that already
    succeeded is answered even when the user is at the cap.
    """
    return fetch_one(
        db,
        "SELECT * FROM tasks.tasks WHERE owner_id = %(owner)s AND idempotency_key = %(key)s",
        {"owner": as_uuid(owner_id), "key": key},
        read=True,
    )


def keyset_page(
    db: Database,
    where: list[str],
    args: dict[str, Any],
    *,
    column: str,
    limit: int,
    cursor: str | None,
    columns: str = "*",
) -> tuple[list[TaskRow], str | None]:
    """One page of tasks matching ``where`` (literals), ordered by ``(column, id)`` descending;
    ``columns`` (a literal that includes ``column`` and ``id``) limits what is read.

    Returns ``(rows, next_cursor)``; ``next_cursor`` is None on the last page. ``limit`` is
    clamped to 1..100; a bad cursor raises ``ValidationFailed``.
    """
    limit = max(1, min(int(limit), 100))
    args = {**args, "n": limit + 1}
    if cursor:
        args["ct"], args["ci"] = decode_cursor(cursor)
        where = [*where, f"(tasks.{column}, tasks.id) < (%(ct)s, %(ci)s)"]
    rows = fetch_all(
        db,
        f"SELECT {columns} FROM tasks.tasks WHERE {' AND '.join(where)}"  # noqa: S608
        # tasks.: the table's columns, where ``columns`` names the id's text "id"
        f" ORDER BY tasks.{column} DESC, tasks.id DESC LIMIT %(n)s",
        args,
        read=True,
    )
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1][column], rows[limit - 1]["id"])
    return rows, None


def list_tasks(
    db: Database,
    owner_id: TaskId | None,
    *,
    status: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    documents: bool = False,
) -> tuple[list[TaskRow], str | None]:
    """The owner's tasks, newest first, keyset-paginated on ``(created_at, id)``; with
    ``documents`` each as ``{doc, id, status, created_at}`` (``DOCUMENT_COLUMNS``) instead of
    the whole row.

    Returns ``(rows, next_cursor)`` (see ``keyset_page``). ``owner_id=None`` lists every
    owner's tasks (admin views; the dead letters have their own ``list_dead_letters``).
    """
    where = ["true"] if owner_id is None else ["tasks.owner_id = %(owner)s"]
    if status is not None:
        where.append("tasks.status = %(status)s")
    args = {"owner": as_uuid(owner_id), "status": status}
    columns = f"{DOCUMENT_COLUMNS}, tasks.created_at" if documents else "*"
    return keyset_page(
        db, where, args, column="created_at", limit=limit, cursor=cursor, columns=columns
    )


def count_unfinished(db: Database, owner_id: TaskId) -> int:
    """How many of the owner's tasks are awaiting upload, queued or running."""
    row = fetch_one(
        db,
        "SELECT count(*) AS n FROM tasks.tasks WHERE owner_id = %(owner)s"
        " AND status IN ('awaiting_upload', 'queued', 'running')",
        {"owner": as_uuid(owner_id)},
        read=True,
    )
    return int(row["n"]) if row else 0


def count_by_status(db: Database) -> dict[str, int]:
    """Task counts per status over every owner (admin dashboard)."""
    rows = fetch_all(db, "SELECT status, count(*) AS n FROM tasks.tasks GROUP BY status", {})
    return {r["status"]: int(r["n"]) for r in rows}


def expire_uploads(db: Database, *, limit: int = 500) -> list[TaskRow]:
    """``awaiting_upload`` past ``upload_expires_at`` → ``expired`` (returns those rows)."""
    return fetch_all(
        db,
        """UPDATE tasks.tasks SET status = 'expired', finished_at = now(), updated_at = now()
           WHERE id IN (SELECT id FROM tasks.tasks WHERE status = 'awaiting_upload'
                        AND upload_expires_at < now() LIMIT %(n)s FOR UPDATE SKIP LOCKED)
             AND status = 'awaiting_upload'
           RETURNING *""",
        {"n": limit},
    )
