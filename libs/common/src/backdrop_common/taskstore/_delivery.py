"""Which jobs the sweeper must put (back) on their stream."""

from __future__ import annotations

from backdrop_common.db import Database
from backdrop_common.taskstore._sql import TaskRow, fetch_all


def due_for_enqueue(db: Database, *, older_than_s: float, limit: int = 500) -> list[TaskRow]:
    """Admitted ``queued`` tasks whose job is still not on its stream ``older_than_s`` after
    their admission (a crash between admission and XADD), oldest first.

    The relay XADDs, then ``mark_enqueued``; a duplicate entry is harmless because ``claim``
    is guarded. Tasks not admitted yet (held by the owner's cap, retries whose time came,
    never sent) are the admission's (``admit_waiting``), not the relay's.
    """
    return fetch_all(
        db,
        "SELECT * FROM tasks.tasks WHERE status = 'queued' AND enqueued_at IS NULL"
        " AND dispatched_at <= now() - make_interval(secs => %(older)s)"
        " ORDER BY dispatched_at LIMIT %(n)s",
        {"older": float(older_than_s), "n": limit},
    )


def deliveries_to_check(db: Database, *, older_than_s: float, limit: int = 500) -> list[TaskRow]:
    """Tasks whose job should still be on its stream, least recently confirmed first.

    ``queued``, admitted and sent ``older_than_s`` ago (a held task is on no stream), or
    ``running`` with a lease lapsed that long (its worker died) and not re-sent since. The
    sweeper checks each one's recorded entry (``stream_entry_id``): still there, it only
    confirms it (``mark_enqueued``), so a stuck job is never added twice; gone (Redis lost
    its data), it sends the job again.
    """
    cutoff = "now() - make_interval(secs => %(older)s)"
    return fetch_all(
        db,
        f"SELECT * FROM tasks.tasks WHERE (status = 'queued' AND enqueued_at <= {cutoff}"  # noqa: S608
        " AND dispatched_at IS NOT NULL)"
        f" OR (status = 'running' AND lease_until <= {cutoff}"
        f" AND (enqueued_at IS NULL OR enqueued_at <= {cutoff}))"
        " ORDER BY enqueued_at NULLS FIRST LIMIT %(n)s",
        {"older": float(older_than_s), "n": limit},
    )
