"""Admission of jobs to their streams under a per-owner cap (fair scheduling, issue 13).

A ``queued`` task is *dispatched* once admitted (``dispatched_at``): its job may then be on
a stream. The owner's dispatched tasks plus their ``running`` ones never exceed the cap the
caller gives; the others wait in the table, *held*, oldest first. Admissions of one owner are
serialised by a transaction-level advisory lock on the owner, so the count and the marking
are one step across every process; the other transitions only ever lower the count.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

from backdrop_common.db import Database, fetch_prepared
from backdrop_common.taskstore._sql import TaskId, TaskRow, as_uuid, fetch_all

# Seed of the owner's lock key: keeps these locks apart from other advisory locks.
_LOCK_SEED = zlib.crc32(b"backdrop-dispatch")
# A waiting task is due unless it is a retry whose time has not come.
_WAITING = (
    "status = 'queued' AND dispatched_at IS NULL"
    " AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
)
_DISPATCHED = "(status = 'running' OR (status = 'queued' AND dispatched_at IS NOT NULL))"
# The owner's oldest due waiting tasks, as many as the cap leaves room for; the outer
# condition again, so a row that changed meanwhile is skipped. A row another transaction is
# changing (a cancel) is passed over, not waited for: PostgreSQL would re-check only that row
# after the wait, find it no longer waiting and admit nothing in its place.
# (A materialised CTE: a locking subquery inside ``IN (...)`` may be run again by the plan,
# each run locking and admitting more rows than the cap.)
_ADMIT = (
    "WITH picked AS MATERIALIZED ("  # noqa: S608
    f" SELECT id FROM tasks.tasks WHERE owner_id = %(o)s AND {_WAITING}"
    " ORDER BY queued_at, id LIMIT greatest(0, %(cap)s - ("
    f"  SELECT count(*) FROM tasks.tasks WHERE owner_id = %(o)s AND {_DISPATCHED}))"
    " FOR UPDATE SKIP LOCKED)"
    " UPDATE tasks.tasks t SET dispatched_at = now(), updated_at = now() FROM picked"
    f" WHERE t.id = picked.id AND {_WAITING} RETURNING t.*"
)


_LOCK_THEN_ADMIT = (
    "SELECT pg_advisory_xact_lock(hashtextextended(%(o)s::text, %(seed)s))",
    _ADMIT,
)


def admit_waiting(db: Database, owner_id: TaskId, cap: int) -> list[TaskRow]:
    """Mark dispatched the owner's oldest due waiting tasks, as many as ``cap`` leaves room
    for beside their dispatched and running ones; the rows admitted (the caller sends them)."""
    owner = as_uuid(owner_id)
    if owner is None:
        return []

    def work(cur: Any) -> list[TaskRow]:
        # Both statements in one round trip (it was four with BEGIN and COMMIT): PostgreSQL
        # runs them as one implicit transaction, which holds the lock to its end, and the
        # UPDATE takes its snapshot after the lock, so its count sees every admission
        # committed before ours. Prepared, as planning the UPDATE cost a third of it.
        args = {"o": owner, "seed": _LOCK_SEED, "cap": int(cap)}
        rows = fetch_prepared(cur, _LOCK_THEN_ADMIT, args)
        return sorted(rows, key=lambda r: (r["queued_at"], r["id"]))

    return db.run(work, single=True)


def has_waiting(db: Database, owner_id: TaskId) -> bool:
    """Whether the owner has a due waiting task: one planned, read-only index probe, so a
    task leaving its slot skips the locking admission when there is nothing to admit."""
    owner = as_uuid(owner_id)
    if owner is None:
        return False
    rows = fetch_all(
        db,
        f"SELECT EXISTS (SELECT 1 FROM tasks.tasks WHERE owner_id = %(o)s AND {_WAITING}) AS w",  # noqa: S608
        {"o": owner},
        read=True,
    )
    return bool(rows[0]["w"])


def owners_waiting(db: Database, *, limit: int = 500) -> list[uuid.UUID]:
    """Owners with due waiting tasks, the longest-waiting first: the sweeper admits for
    each, so a release that was lost leaves nothing held for long."""
    rows = fetch_all(
        db,
        f"SELECT owner_id FROM tasks.tasks WHERE {_WAITING}"  # noqa: S608
        " GROUP BY owner_id ORDER BY min(queued_at) LIMIT %(n)s",
        {"n": limit},
        read=True,
    )
    return [row["owner_id"] for row in rows]
