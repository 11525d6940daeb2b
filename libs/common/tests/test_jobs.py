"""Job streams: sending a job records its entry, lost entries are recognised, and each
owner's jobs reach the streams only within their fair share."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg2
import redis
from backdrop_common import jobs, redis_keys
from backdrop_common import taskstore as ts
from backdrop_common.db import Database
from backdrop_testing.tasks import job_ids

MakeTask = Callable[..., ts.TaskRow]


def test_send_job_records_the_entry(
    db: Database, make_task: MakeTask, redis_client: redis.Redis
) -> None:
    task = make_task()
    queued = ts.mark_queued(db, task["id"])
    sent = jobs.send_job(db, redis_client, queued, max_dispatched=10)
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
        if task is never:
            rows.append(queued)
            continue
        sent = jobs.send_job(db, redis_client, queued, max_dispatched=10)
        rows.append(sent)
    redis_client.xdel(redis_keys.job_stream("checksum"), rows[1]["stream_entry_id"])
    assert jobs.entries_present(redis_client, rows) == [True, False, False]
    redis_client.flushdb()
    assert jobs.entries_present(redis_client, rows) == [False, False, False]


def _queued(db: Database, make_task: MakeTask, owner: uuid.UUID, n: int) -> list[ts.TaskRow]:
    rows = []
    for _ in range(n):
        row = ts.mark_queued(db, make_task(owner_id=owner)["id"])
        assert row is not None
        rows.append(row)
    return rows


def test_jobs_over_the_owners_share_wait_in_postgresql(
    db: Database, make_task: MakeTask, redis_client: redis.Redis
) -> None:
    """One owner's backlog takes its share of the stream, the rest waits; another owner's job
    goes straight through; a finished task lets the owner's oldest held job go."""
    a, b = uuid.uuid4(), uuid.uuid4()
    backlog = _queued(db, make_task, a, 5)
    for row in backlog:
        jobs.send_job(db, redis_client, row, max_dispatched=2)
    held = ts.get_task(db, backlog[2]["id"])
    assert held["status"] == "queued" and held["dispatched_at"] is None
    (other,) = _queued(db, make_task, b, 1)
    assert jobs.send_job(db, redis_client, other, max_dispatched=2) is not None
    ids = [str(row["id"]) for row in backlog]
    assert job_ids(redis_client) == [*ids[:2], str(other["id"])]

    # Running still counts; an ended task frees its slot for the oldest held job.
    ts.claim(db, backlog[0]["id"], "w1", 30)
    assert jobs.dispatch_waiting(db, redis_client, a, max_dispatched=2) == []
    ts.mark_succeeded(db, backlog[0]["id"], "w1", {})
    released = jobs.dispatch_waiting(db, redis_client, a, max_dispatched=2)
    assert [str(row["id"]) for row in released] == [ids[2]]
    assert job_ids(redis_client)[-1] == ids[2]
    # A cancelled dispatched task frees its slot too.
    ts.request_cancel(db, backlog[1]["id"], a)
    assert [str(r["id"]) for r in jobs.dispatch_waiting(db, redis_client, a, max_dispatched=2)] == [
        ids[3]
    ]


def test_a_retry_goes_back_through_the_share(
    db: Database, make_task: MakeTask, redis_client: redis.Redis
) -> None:
    owner = uuid.uuid4()
    first, second = _queued(db, make_task, owner, 2)
    jobs.send_job(db, redis_client, first, max_dispatched=1)
    assert jobs.send_job(db, redis_client, second, max_dispatched=1) is None  # held
    ts.claim(db, first["id"], "w1", 30)
    retry = ts.requeue(db, first["id"], "w1", delay_s=0)
    # The retry queues behind the owner's held job, which takes the freed slot.
    assert jobs.send_job(db, redis_client, retry, max_dispatched=1) is None
    assert ts.get_task(db, second["id"])["dispatched_at"] is not None
    assert job_ids(redis_client) == [str(first["id"]), str(second["id"])]


def test_concurrent_sends_never_exceed_the_share(
    db: Database, make_task: MakeTask, redis_client: redis.Redis
) -> None:
    """Sends of one owner's jobs from many processes at once admit exactly the cap (a few
    rounds: without the owner's lock, some round admits more)."""
    cap, senders = 3, 8
    for _ in range(4):
        rows = _queued(db, make_task, uuid.uuid4(), 3 * senders)
        barrier = threading.Barrier(senders)

        def send(batch: list[ts.TaskRow], barrier: threading.Barrier = barrier) -> None:
            # A database (pool) per sender: its own PostgreSQL session, like another service.
            own_db = Database(db.dsn)
            try:
                barrier.wait()
                for row in batch:
                    jobs.send_job(own_db, redis_client, row, max_dispatched=cap)
            finally:
                own_db.close()

        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(send, [rows[i::senders] for i in range(senders)]))
        ids = {str(row["id"]) for row in rows}
        on_stream = [task_id for task_id in job_ids(redis_client) if task_id in ids]
        assert len(on_stream) == cap and len(set(on_stream)) == cap
        admitted = [r for r in (ts.get_task(db, row["id"]) for row in rows) if r["dispatched_at"]]
        assert sorted(str(r["id"]) for r in admitted) == sorted(on_stream)


def test_a_release_sends_a_held_job_and_skips_admission_when_none_waits(
    db: Database, make_task: MakeTask, redis_client: redis.Redis, monkeypatch: Any
) -> None:
    owner = uuid.uuid4()
    first, second = _queued(db, make_task, owner, 2)
    jobs.send_job(db, redis_client, first, max_dispatched=1)
    assert jobs.send_job(db, redis_client, second, max_dispatched=1) is None  # held
    admissions: list[object] = []
    admit = ts.admit_waiting
    monkeypatch.setattr(ts, "admit_waiting", lambda *a: admissions.append(a[1]) or admit(*a))

    ts.claim(db, first["id"], "w1", 30)
    ts.mark_succeeded(db, first["id"], "w1", {})
    released = jobs.release_slot(db, redis_client, owner, max_dispatched=1)
    assert [r["id"] for r in released] == [second["id"]] and admissions == [owner]

    # Nothing of theirs waits now: the release reads that and takes no lock, writes nothing.
    ts.claim(db, second["id"], "w1", 30)
    ts.mark_succeeded(db, second["id"], "w1", {})
    assert jobs.release_slot(db, redis_client, owner, max_dispatched=1) == []
    assert admissions == [owner]
    # A retry that is not due yet is not waiting either (the sweeper admits it when it is).
    (later,) = _queued(db, make_task, owner, 1)
    ts.claim(db, later["id"], "w1", 30)
    ts.requeue(db, later["id"], "w1", delay_s=60)
    assert not ts.has_waiting(db, owner)


def test_releases_racing_new_jobs_strand_nothing(
    db: Database, make_task: MakeTask, redis_client: redis.Redis
) -> None:
    """A job held by a send that still counted a finishing task is sent by that task's
    release: after each race, a held job means the owner's slot is in use."""
    for _ in range(15):
        owner = uuid.uuid4()
        (running,) = _queued(db, make_task, owner, 1)
        jobs.send_job(db, redis_client, running, max_dispatched=1)
        ts.claim(db, running["id"], "w1", 30)
        (new,) = _queued(db, make_task, owner, 1)
        barrier = threading.Barrier(2)

        def finish(row: ts.TaskRow = running, barrier: threading.Barrier = barrier) -> None:
            own_db = Database(db.dsn)  # another process's session, as the worker's is
            try:
                barrier.wait()
                ts.mark_succeeded(own_db, row["id"], "w1", {})
                jobs.release_slot(own_db, redis_client, row["owner_id"], max_dispatched=1)
            finally:
                own_db.close()

        def send(row: ts.TaskRow = new, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            jobs.send_job(db, redis_client, row, max_dispatched=1)

        with ThreadPoolExecutor(2) as pool:
            for done in [pool.submit(finish), pool.submit(send)]:
                done.result()
        after = ts.get_task(db, new["id"])
        assert after is not None and after["dispatched_at"] is not None, "the new job was stranded"


def test_a_job_being_cancelled_does_not_block_the_next_one(
    db: Database, make_task: MakeTask, redis_client: redis.Redis
) -> None:
    """An admission that meets a held job while its cancel is being written takes the next
    one instead of waiting for the cancel and then admitting nothing."""
    owner = uuid.uuid4()
    first, second = _queued(db, make_task, owner, 2)
    cancelling = psycopg2.connect(db.dsn)
    try:
        with cancelling.cursor() as cur:  # a cancel in progress: the row is locked
            cur.execute("UPDATE tasks.tasks SET status = 'cancelled' WHERE id = %s", (first["id"],))
        with ThreadPoolExecutor(1) as pool:
            admitted = pool.submit(ts.admit_waiting, db, owner, 1)
            time.sleep(0.3)
            cancelling.commit()
            rows = admitted.result(5)
    finally:
        cancelling.close()
    assert [r["id"] for r in rows] == [second["id"]]
