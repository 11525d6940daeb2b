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


def send_job(db: Database, client: redis.Redis, row: Mapping[str, Any]) -> taskstore.TaskRow | None:
    """XADD the job of task ``row``, then record its entry (``mark_enqueued``).

    The one way a job reaches its stream. Returns the updated row (None when the task moved
    on meanwhile). A crash between the two steps leaves the task unconfirmed, so the sweeper
    sends it again: two entries, which ``claim`` makes harmless.
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
