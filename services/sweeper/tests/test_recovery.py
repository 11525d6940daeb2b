"""Redis losing its data: the sweeper re-sends what was lost, never doubles a job, and never
sends a job its owner's fair share held back."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from backdrop_common import redis_keys, taskstore
from backdrop_common.jobs import send_job
from sweeper import service
from sweeper.resources import Resources
from sweeper.settings import SweeperSettings
from sweeper.sweep import SweepReport, sweep_once

Jobs = Callable[..., list[str]]
NEVER = 3600.0  # a stale_after_s no test reaches: only the lost-data signal can act
SHARE = 2  # jobs of one owner on a stream or running at once


def _sweep(res: Resources, **kwargs: Any) -> SweepReport:
    kwargs.setdefault("relay_after_s", 0)
    kwargs.setdefault("max_dispatched", SHARE)
    return sweep_once(res.db, res.redis, res.storage, **kwargs)


def _sent(res: Resources, make_task: Callable[..., Any], **fields: Any) -> Any:
    task = make_task(**fields)
    queued = taskstore.mark_queued(res.db, task["id"])
    return send_job(res.db, res.redis, queued, max_dispatched=SHARE)


def _dead_worker(res: Resources, make_task: Callable[..., Any]) -> Any:
    """A running task whose worker died: its lease has lapsed."""
    task = _sent(res, make_task)
    taskstore.claim(res.db, task["id"], "w-dead", 30)
    with res.db.cursor() as cur:
        cur.execute(
            "UPDATE tasks.tasks SET lease_until = now() - interval '1 s' WHERE id = %s",
            (task["id"],),
        )
    return task


def test_flushall_resends_queued_and_orphaned_jobs_at_once(
    res: Resources, make_task: Callable[..., Any], jobs: Jobs, redis_client: redis.Redis
) -> None:
    queued = [_sent(res, make_task) for _ in range(3)]
    orphan = _dead_worker(res, make_task)
    live = _sent(res, make_task)
    taskstore.claim(res.db, live["id"], "w-alive", 30)  # its worker is still on it
    gzip = _sent(res, make_task, processor="gzip")
    assert _sweep(res, stale_after_s=NEVER).resent == 0  # first sweep: nothing lost
    redis_client.flushdb()  # FLUSHALL, or a restart of a Redis that keeps nothing

    report = _sweep(res, stale_after_s=NEVER)
    assert report.redis_lost_data and report.resent == 5
    assert sorted(jobs()) == sorted(str(t["id"]) for t in [*queued, orphan])
    assert jobs("gzip") == [str(gzip["id"])]
    # The consumer group is back too, from the start of the stream.
    groups = redis_client.xinfo_groups(redis_keys.job_stream("checksum"))
    assert [(g["name"], g["last-delivered-id"]) for g in groups] == [("workers", "0-0")]
    again = _sweep(res, stale_after_s=NEVER)
    assert not again.redis_lost_data and again.resent == 0 and len(jobs()) == 4


def test_relays_never_pile_a_stuck_job_onto_its_stream(
    res: Resources, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    """Issue 10 item 9: a queued job nobody takes stays one entry, sweep after sweep."""
    task = _sent(res, make_task)
    for _ in range(5):
        assert _sweep(res, stale_after_s=0).resent == 0
    assert jobs() == [str(task["id"])]
    res.redis.delete(redis_keys.job_stream("checksum"))  # only that stream was lost
    assert _sweep(res, stale_after_s=0).resent == 1
    assert _sweep(res, stale_after_s=0).resent == 0
    assert jobs() == [str(task["id"])]


def test_run_loop_recovers_within_seconds(
    settings: SweeperSettings,
    res: Resources,
    make_task: Callable[..., Any],
    jobs: Jobs,
    redis_client: redis.Redis,
) -> None:
    settings.sweep_interval_s = 0.1
    settings.stale_after_s = NEVER
    task = _sent(res, make_task)
    stop = threading.Event()
    loop = threading.Thread(target=service.run, args=(settings, stop))
    loop.start()
    try:
        time.sleep(0.5)  # the loop has seen Redis with its data
        redis_client.flushdb()
        lost_at = time.monotonic()
        while jobs() != [str(task["id"])]:
            assert time.monotonic() - lost_at < 5, "the job was not re-sent"
            time.sleep(0.05)
        # A worker that held a lease when the data went dies later: its job's pending entry
        # is gone with the data, so the recovery window re-sends it when the lease lapses.
        orphan = _dead_worker(res, make_task)
        redis_client.xdel(redis_keys.job_stream("checksum"), orphan["stream_entry_id"])
        while str(orphan["id"]) not in jobs():
            assert time.monotonic() - lost_at < 10, "the orphaned job was not re-sent"
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(10)


def test_a_redis_wipe_resends_only_the_owners_share(
    res: Resources, make_task: Callable[..., Any], jobs: Jobs, redis_client: redis.Redis
) -> None:
    """Held jobs were on no stream: a wipe re-sends the admitted ones and holds the rest."""
    owner = uuid.uuid4()
    rows = [taskstore.mark_queued(res.db, make_task(owner_id=owner)["id"]) for _ in range(5)]
    for row in rows:
        send_job(res.db, res.redis, row, max_dispatched=SHARE)
    admitted = [str(row["id"]) for row in rows[:SHARE]]
    assert jobs() == admitted
    assert _sweep(res, stale_after_s=NEVER).resent == 0
    redis_client.flushdb()

    report = _sweep(res, stale_after_s=NEVER)
    assert (report.resent, report.released) == (SHARE, 0)
    assert jobs() == admitted
    for row in rows[SHARE:]:
        assert taskstore.get_task(res.db, row["id"])["dispatched_at"] is None
