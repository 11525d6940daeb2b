"""Upload permission: the bytes a user may still send, and inputs to sweep after the fact.

A presigned URL cannot be revoked: once issued it works until it expires, which is never
after the task's ``upload_expires_at``. So a cancelled task's declared bytes keep counting
against its owner's quota until then, and whatever lands at its input key meanwhile is
deleted by the sweeper once the window has closed.
"""

from __future__ import annotations

from backdrop_common.db import Database
from backdrop_common.taskstore._sql import TaskId, TaskRow, as_uuid, fetch_all, fetch_one


def awaiting_upload_bytes(db: Database, owner_id: TaskId) -> int:
    """Declared bytes the owner may still upload: tasks awaiting their upload, and tasks
    cancelled before it whose URLs may still be valid."""
    row = fetch_one(
        db,
        """SELECT coalesce(sum(size), 0) AS n FROM tasks.tasks
           WHERE owner_id = %(owner)s AND upload_expires_at > now()
             AND (status = 'awaiting_upload' OR (status = 'cancelled' AND queued_at IS NULL))""",
        {"owner": as_uuid(owner_id)},
        read=True,  # every task creation asks: planning it cost PostgreSQL 230 us each time
    )
    return int(row["n"]) if row else 0


def inputs_to_sweep(db: Database, *, grace_s: float, limit: int = 500) -> list[TaskRow]:
    """Tasks past their upload whose input key has not been swept, once every URL issued
    for them has expired (``upload_expires_at`` plus ``grace_s`` for clock skew)."""
    return fetch_all(
        db,
        """SELECT * FROM tasks.tasks
           WHERE input_swept_at IS NULL AND status <> 'awaiting_upload'
             AND upload_expires_at < now() - make_interval(secs => %(grace)s)
           ORDER BY upload_expires_at LIMIT %(n)s""",
        {"grace": float(grace_s), "n": limit},
    )


def mark_input_swept(db: Database, task_id: TaskId) -> None:
    """Record that nothing can arrive at the task's input key any more."""
    fetch_one(
        db,
        "UPDATE tasks.tasks SET input_swept_at = now() WHERE id = %(id)s RETURNING id",
        {"id": as_uuid(task_id)},
    )
