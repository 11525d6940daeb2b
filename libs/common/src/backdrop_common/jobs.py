"""Job streams (``backdrop:jobs:<processor>``): the delivery side of the task outbox.

PostgreSQL is the source of truth; an entry here only says "look at this task". Entries
may be duplicated (relay after a crash), which is harmless because ``taskstore.claim``
is guarded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis

from backdrop_common import taskstore, tracing
from backdrop_common.db import Database
from backdrop_common.redis_keys import JOB_GROUP, job_stream


def enqueue_job(client: redis.Redis, processor: str, task_id: object) -> str:
    """XADD ``{task_id}`` (and the current ``traceparent``, if traced) to the processor's
    stream; returns the entry id.

    Not trimmed: a trimmed entry could be one a consumer has not acknowledged yet.
    """
    fields = {"task_id": str(task_id)}
    traceparent = tracing.current_traceparent()
    if traceparent:
        fields[tracing.TRACEPARENT] = traceparent
    entry_id = client.xadd(job_stream(processor), fields)  # type: ignore[arg-type]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def ensure_group(client: redis.Redis, processor: str) -> None:
    """Create the ``workers`` group (and the stream) if missing.

    The group starts at ``0``, not ``$``: jobs added before the first worker started
    (or before Redis lost and regained the group) must still be delivered.
    """
    try:
        client.xgroup_create(job_stream(processor), JOB_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def send_job(
    db: Database, client: redis.Redis, row: Mapping[str, Any], *, max_dispatched: int
) -> taskstore.TaskRow | None:
    """Put the job of task ``row`` on its stream, within its owner's fair share.

    The one way a job reaches its stream. A task already admitted (or ``running``: a relay,
    or a re-send after Redis lost the entry) is sent as it is. A new one goes through
    admission (``dispatch_waiting``): the owner's oldest waiting tasks are sent while fewer
    than ``max_dispatched`` of theirs are dispatched or running; beyond that the task stays
    ``queued`` in PostgreSQL, held, until one of theirs ends. Returns the updated row, or
    None when the task was held or moved on meanwhile.
    """
    if row["status"] == "running" or row.get("dispatched_at") is not None:
        return _send(db, client, row)
    sent = dispatch_waiting(db, client, row["owner_id"], max_dispatched=max_dispatched)
    return next((new for new in sent if new["id"] == row["id"]), None)


def dispatch_waiting(
    db: Database, client: redis.Redis, owner_id: taskstore.TaskId, *, max_dispatched: int
) -> list[taskstore.TaskRow]:
    """Send the owner's oldest waiting jobs while fewer than ``max_dispatched`` of theirs
    are dispatched or running (``taskstore.admit_waiting``); the rows sent.

    Called on each new job, after each of the owner's tasks leaves its slot (the worker,
    a cancel) and by every sweep, so a release that was lost delays work, never strands it.
    """
    admitted = taskstore.admit_waiting(db, owner_id, max_dispatched)
    return [new for row in admitted if (new := _send(db, client, row)) is not None]


def release_slot(
    db: Database, client: redis.Redis, owner_id: taskstore.TaskId, *, max_dispatched: int
) -> list[taskstore.TaskRow]:
    """One of the owner's tasks left its slot (it ended, or was cancelled while dispatched):
    send their next held jobs (``dispatch_waiting``), if any wait; the rows sent.

    The check is a plain read after the caller's commit, and it misses nothing: a job is
    held by an admission that counted the leaving task, which ran after the job was
    committed ``queued`` and before the caller's commit, so the read sees the job waiting.
    Most releases find nothing (a user within their share), and skip the admission's
    advisory lock and write: a third of PostgreSQL's work per job. (A retry whose time has
    not come is not waiting yet; the sweeper admits it once it is due.)
    """
    if not taskstore.has_waiting(db, owner_id):
        return []
    return dispatch_waiting(db, client, owner_id, max_dispatched=max_dispatched)


def _send(db: Database, client: redis.Redis, row: Mapping[str, Any]) -> taskstore.TaskRow | None:
    """XADD the job of ``row``, then record its entry (``mark_enqueued``).

    A crash between the two steps leaves the task unconfirmed, so the sweeper sends it
    again: two entries, which ``claim`` makes harmless.
    """
    with tracing.span("task queued", row.get("traceparent"), {"backdrop.task_id": str(row["id"])}):
        entry_id = enqueue_job(client, row["processor"], row["id"])
    return taskstore.mark_enqueued(db, row["id"], entry_id)


def entries_present(client: redis.Redis, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
    """For each task row, whether its recorded stream entry (``stream_entry_id``) still exists.

    One pipelined XRANGE per row; a row with no recorded entry counts as absent.
    """
    with client.pipeline(transaction=False) as pipe:
        for row in rows:
            entry = row.get("stream_entry_id") or "0-0"
            pipe.xrange(job_stream(row["processor"]), min=entry, max=entry, count=1)
        found = pipe.execute()
    return [
        bool(row.get("stream_entry_id")) and bool(hit) for row, hit in zip(rows, found, strict=True)
    ]
