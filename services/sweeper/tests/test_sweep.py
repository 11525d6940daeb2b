"""The sweeper: expiring abandoned uploads, relaying jobs that never reached the stream and
sending held jobs as their owners' fair shares allow."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import psycopg2
import redis
import requests
from backdrop_common import events, redis_keys, taskstore
from backdrop_common.jobs import send_job
from backdrop_testing.infra import free_port
from sweeper import service
from sweeper.resources import Resources
from sweeper.settings import SweeperSettings
from sweeper.sweep import LOCK_KEY, SweepReport, sweep_once

Jobs = Callable[..., list[str]]


def _sweep(res: Resources, **kwargs: Any) -> SweepReport:
    kwargs.setdefault("relay_after_s", 0)
    kwargs.setdefault("max_dispatched", 2)
    return sweep_once(res.db, res.redis, res.storage, **kwargs)


def _age(res: Resources, task_id: Any, column: str) -> None:
    with res.db.cursor() as cur:
        cur.execute(
            f"UPDATE tasks.tasks SET {column} = now() - interval '1 h' WHERE id = %s",  # noqa: S608
            (task_id,),
        )


def test_expires_abandoned_uploads_and_cleans_storage(
    res: Resources, make_task: Callable[..., Any], redis_client: redis.Redis
) -> None:
    task = make_task()
    fresh = make_task()
    upload_id = res.storage.create_multipart(task["object_key"], "text/plain")
    res.storage.upload_part(task["object_key"], upload_id, 1, b"partial")
    taskstore.set_multipart_upload(res.db, task["id"], upload_id)
    res.storage.put_bytes(task["object_key"], b"stray", "text/plain")
    _age(res, task["id"], "upload_expires_at")
    report = _sweep(res)
    assert report.expired == 1 and not report.skipped
    assert taskstore.get_task(res.db, task["id"])["status"] == "expired"
    assert taskstore.get_task(res.db, fresh["id"])["status"] == "awaiting_upload"
    assert res.storage.head(task["object_key"]) is None
    uploads = res.storage.s3.list_multipart_uploads(Bucket=res.storage.bucket)
    assert uploads.get("Uploads", []) == []
    logged = events.read_events(redis_client, task["id"], None, 0)
    assert logged[-1][2]["status"] == "expired"
    assert redis_client.ttl(redis_keys.events_key(task["id"])) <= events.TERMINAL_TTL_S
    assert _sweep(res).expired == 0


def test_late_uploads_to_input_keys_are_swept_once_the_window_closes(
    res: Resources, make_task: Callable[..., Any]
) -> None:
    storage = res.storage
    cancelled, queued, waiting = make_task(), make_task(), make_task()
    taskstore.request_cancel(res.db, cancelled["id"], cancelled["owner_id"])
    verified = f"users/{queued['owner_id']}/tasks/{queued['id']}/verified/v1"
    storage.put_bytes(verified, b"checked", "text/csv")
    taskstore.mark_queued(res.db, queued["id"], object_key=verified)
    for task in (cancelled, queued, waiting):  # forms stay valid after cancel and verify
        storage.put_bytes(task["object_key"], b"posted late", "text/csv")
    assert _sweep(res).swept == 0  # their forms may still write: sweep when they lapse
    for task in (cancelled, queued):
        _age(res, task["id"], "upload_expires_at")
    assert _sweep(res).swept == 2
    assert storage.head(cancelled["object_key"]) is None
    assert storage.head(queued["object_key"]) is None
    assert storage.open_read(verified).read() == b"checked"  # the processed bytes stay
    assert storage.head(waiting["object_key"]) is not None  # still awaiting its upload
    assert _sweep(res).swept == 0  # once per task


def test_sends_a_job_whose_sender_died_before_admitting_it(
    res: Resources, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    task = make_task()
    taskstore.mark_queued(res.db, task["id"])  # ... and the process died before send_job
    report = _sweep(res, relay_after_s=60)
    assert (report.relayed, report.released) == (0, 1)
    assert jobs() == [str(task["id"])]
    assert taskstore.get_task(res.db, task["id"])["enqueued_at"] is not None
    assert _sweep(res).released == 0 and jobs() == [str(task["id"])]


def test_relays_a_job_lost_between_admission_and_xadd(
    res: Resources, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    task = make_task()
    taskstore.mark_queued(res.db, task["id"])
    taskstore.admit_waiting(res.db, task["owner_id"], 2)  # ... and the process died here
    assert _sweep(res, relay_after_s=60).relayed == 0  # too fresh: the sender may be on it
    assert _sweep(res).relayed == 1
    assert jobs() == [str(task["id"])]
    assert _sweep(res).relayed == 0 and jobs() == [str(task["id"])]


def test_sends_due_retries(res: Resources, make_task: Callable[..., Any], jobs: Jobs) -> None:
    task = make_task()
    taskstore.mark_queued(res.db, task["id"])
    taskstore.admit_waiting(res.db, task["owner_id"], 2)
    taskstore.mark_enqueued(res.db, task["id"])
    taskstore.claim(res.db, task["id"], "w1", 30)
    taskstore.requeue(res.db, task["id"], "w1", delay_s=3600)
    assert _sweep(res).released == 0  # backoff not over
    _age(res, task["id"], "next_attempt_at")
    assert _sweep(res).released == 1
    assert jobs() == [str(task["id"])]


def test_sends_a_held_job_whose_release_was_lost(
    res: Resources, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    """A worker died between finishing a task and sending its owner's next job: the sweep
    sends it, once, and never more than the owner's share."""
    owner = uuid.uuid4()
    rows = [make_task(owner_id=owner) for _ in range(4)]
    for row in rows:
        send_job(res.db, res.redis, taskstore.mark_queued(res.db, row["id"]), max_dispatched=2)
    ids = [str(row["id"]) for row in rows]
    assert jobs() == ids[:2]
    assert _sweep(res).released == 0  # the share is full
    taskstore.claim(res.db, rows[0]["id"], "w1", 30)
    taskstore.mark_succeeded(res.db, rows[0]["id"], "w1", {})  # ... no release followed
    assert _sweep(res).released == 1
    assert jobs() == ids[:3]
    assert _sweep(res).released == 0 and jobs() == ids[:3]


def test_one_sweeper_at_a_time(res: Resources, settings: SweeperSettings) -> None:
    holder = psycopg2.connect(settings.database_url)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        assert _sweep(res).skipped
    finally:
        holder.close()
    assert not _sweep(res).skipped


def test_run_loop_serves_health_and_stops(settings: SweeperSettings, res: Resources) -> None:
    settings.sweeper_health_port = free_port()
    settings.sweep_interval_s = 0.05
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(settings, stop))
    thread.start()
    try:
        base = f"http://127.0.0.1:{settings.sweeper_health_port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                ready = requests.get(f"{base}/readyz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert "backdrop_sweeper_relayed_total" in requests.get(f"{base}/metrics", timeout=2).text
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_console_script_is_declared() -> None:
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts["backdrop-sweeper"] == "sweeper.service:main"
