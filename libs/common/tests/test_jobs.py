"""Job streams: sending a job records its entry, and lost entries are recognised."""

from __future__ import annotations

from collections.abc import Callable

import redis
from backdrop_common import jobs, redis_keys
from backdrop_common import taskstore as ts
from backdrop_common.db import Database

MakeTask = Callable[..., ts.TaskRow]


def test_send_job_records_the_entry(
    db: Database, make_task: MakeTask, redis_client: redis.Redis
) -> None:
    task = make_task()
    queued = ts.mark_queued(db, task["id"])
    sent = jobs.send_job(db, redis_client, queued)
    entries = redis_client.xrange(redis_keys.job_stream("checksum"))
    assert [(i, f["task_id"]) for i, f in entries] == [(sent["stream_entry_id"], str(task["id"]))]
    assert sent["enqueued_at"] is not None


def test_entries_present_tells_lost_entries(
    db: Database, make_task: MakeTask, redis_client: redis.Redis
) -> None:
    kept, deleted, never = (make_task() for _ in range(3))
    rows = []
    for task in (kept, deleted, never):
        queued = ts.mark_queued(db, task["id"])
        rows.append(jobs.send_job(db, redis_client, queued) if task is not never else queued)
    redis_client.xdel(redis_keys.job_stream("checksum"), rows[1]["stream_entry_id"])
    assert jobs.entries_present(redis_client, rows) == [True, False, False]
    redis_client.flushdb()
    assert jobs.entries_present(redis_client, rows) == [False, False, False]
