"""Redis losing its data, and the group's bookkeeping: streams, consumers, worker names."""

from __future__ import annotations

import signal
import time
from typing import Any

import requests
from backdrop_common import jobs, redis_keys, taskstore
from worker.consumer import StreamConsumer

from tests.helpers import wait_for


def _ready(worker: Any) -> tuple[int, dict[str, Any]]:
    answer = requests.get(worker.url("/readyz"), timeout=5)
    return answer.status_code, answer.json()


def test_flushed_redis_heals_without_a_restart(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    worker = start_worker("--processors", "checksum")
    assert tasks.wait_status(tasks("checksum", b"before")["id"], "succeeded")
    redis_client.flushdb()  # the stream and its consumer group are gone
    started = time.monotonic()
    # The relay (or upload) XADDs the job again: the stream exists, the group does not.
    row = tasks("checksum", b"after")
    done = tasks.wait_status(row["id"], "succeeded", timeout=15)
    assert done["result"]["sha256"]
    print(f"job done {time.monotonic() - started:.1f} s after FLUSHDB")
    assert _ready(worker)[0] == 200


def test_not_ready_while_jobs_cannot_be_read(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    worker = start_worker("--processors", "checksum")
    stream = redis_keys.job_stream("checksum")
    redis_client.delete(stream)
    redis_client.set(stream, "not a stream")  # neither readable nor repairable
    _, body = wait_for(lambda: (r := _ready(worker))[0] == 503 and r, 10, 0.2)
    assert body["checks"]["jobs"].startswith("error")
    assert requests.get(worker.url("/healthz"), timeout=5).status_code == 200  # still alive
    redis_client.delete(stream)
    wait_for(lambda: _ready(worker)[0] == 200, 10, 0.2)
    assert tasks.wait_status(tasks("checksum", b"x")["id"], "succeeded")


def test_acknowledged_entries_leave_the_stream(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    start_worker("--processors", "checksum")
    rows = [tasks("checksum", f"job {n}".encode()) for n in range(5)]
    for row in rows:
        tasks.wait_status(row["id"], "succeeded")
    stream = redis_keys.job_stream("checksum")
    wait_for(lambda: redis_client.xlen(stream) == 0, 5)


def test_a_worker_that_leaves_removes_its_consumer(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    worker = start_worker("--processors", "checksum")
    tasks.wait_status(tasks("checksum", b"x")["id"], "succeeded")
    stream = redis_keys.job_stream("checksum")
    names = {c["name"] for c in redis_client.xinfo_consumers(stream, redis_keys.JOB_GROUP)}
    assert worker.worker_id in names
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    names = {c["name"] for c in redis_client.xinfo_consumers(stream, redis_keys.JOB_GROUP)}
    assert worker.worker_id not in names


def test_unnamed_workers_take_stable_names(start_worker: Any, redis_client: Any) -> None:
    first = start_worker("--processors", "checksum", named=False)
    second = start_worker("--processors", "checksum", named=False)
    host, n = first.worker_id.rsplit("-", 1)
    assert second.worker_id == f"{host}-{int(n) + 1}"
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0
    # A restarted worker takes the freed name (and so its consumer) back.
    again = start_worker("--processors", "checksum", named=False)
    assert again.worker_id == first.worker_id


def test_consumers_of_dead_workers_are_pruned(redis_client: Any, tasks: Any) -> None:
    me = StreamConsumer(redis_client, ["checksum"], "me", block_ms=50)
    me.ensure_groups()
    stream, group = redis_keys.job_stream("checksum"), redis_keys.JOB_GROUP
    for name in ("ghost", "alive", "holder"):
        redis_client.xgroup_createconsumer(stream, group, name)
    jobs.enqueue_job(redis_client, "checksum", "t1")
    redis_client.xreadgroup(group, "holder", {stream: ">"}, count=1)  # holds a message
    assert me.prune(lambda name: name == "alive", idle_ms=0) == 1
    names = {c["name"] for c in redis_client.xinfo_consumers(stream, group)}
    assert names == {"alive", "holder"}  # "me" was never created: it has not read yet


def test_a_cancel_whose_redis_signals_were_lost_is_learnt_from_postgresql(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    start_worker("--processors", "sleepy")  # default lease 6 s, renewed every 2 s
    row = tasks("sleepy", params={"seconds": 30})
    tasks.wait_status(row["id"], "running")
    # The gateway's row update went through; its PUBLISH and cancel key did not.
    taskstore.request_cancel(tasks.db, row["id"], None)
    accepted = time.monotonic()
    done = tasks.wait_status(row["id"], "cancelled", "succeeded", "failed", timeout=15)
    assert done["status"] == "cancelled"
    assert time.monotonic() - accepted < 6  # the next lease renewal, at most 2 s away
