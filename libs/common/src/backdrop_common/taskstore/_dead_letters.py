"""Dead letters: tasks that failed after their last attempt (``retries_exhausted``).

An operator lists them, sends one back for a fresh set of attempts (``retry_failed``), or
discards it (it stays ``failed`` and leaves the list). The attempts' errors stay in
``attempt_errors`` either way.
"""

from __future__ import annotations

from backdrop_common.db import Database
from backdrop_common.retries import EXHAUSTED
from backdrop_common.taskstore._queries import keyset_page
from backdrop_common.taskstore._sql import TaskId, TaskRow, fetch_one, guarded_update

_DEAD = f"status = 'failed' AND error_code = '{EXHAUSTED}' AND discarded_at IS NULL"


def list_dead_letters(
    db: Database, *, processor: str | None = None, limit: int = 20, cursor: str | None = None
) -> tuple[list[TaskRow], str | None]:
    """Dead letters, most recently failed first, keyset-paginated on ``(finished_at, id)``.

    Returns ``(rows, next_cursor)`` like ``list_tasks``; ``limit`` clamped to 1..100.
    """
    where = [_DEAD] + ([] if processor is None else ["processor = %(processor)s"])
    return keyset_page(
        db, where, {"processor": processor}, column="finished_at", limit=limit, cursor=cursor
    )


def count_dead_letters(db: Database) -> int:
    """How many dead letters wait for an operator."""
    row = fetch_one(db, f"SELECT count(*) AS n FROM tasks.tasks WHERE {_DEAD}", {})  # noqa: S608
    return int(row["n"]) if row else 0


def retry_failed(db: Database, task_id: TaskId) -> TaskRow | None:
    """Operator retry of a failed task (a dead letter or any other): ``failed → queued``.

    The attempt budget starts again; the history in ``attempt_errors`` is kept. The sweeper
    admits the job at its next sweep (within the owner's cap).
    """
    return guarded_update(
        db,
        task_id,
        "status = 'queued', attempts = 0, queued_at = now(), enqueued_at = NULL,"
        " dispatched_at = NULL, next_attempt_at = now(), finished_at = NULL, worker_id = NULL,"
        " lease_until = NULL,"
        " error_code = NULL, error_message = NULL, result = NULL, discarded_at = NULL",
        "status = 'failed'",
    )


def discard_dead_letter(db: Database, task_id: TaskId) -> TaskRow | None:
    """Take a dead letter off the list for good (it stays ``failed``); None if not one."""
    return guarded_update(db, task_id, "discarded_at = now()", _DEAD)
