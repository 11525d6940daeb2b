"""Per-task event logs, progress cache, cancel signals and job streams on a real Redis."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from backdrop_common import events, jobs, redis_keys


def _doc(fraction: float = 0.0, status: str = "running") -> dict[str, object]:
    return {"id": "t", "status": status, "progress": {"fraction": fraction}}


def test_replay_after_an_id(redis_client: redis.Redis) -> None:
    task = uuid.uuid4()
    ids = [events.append_event(redis_client, task, "progress", _doc(0.1 * n)) for n in range(3)]
    everything = events.read_events(redis_client, task, None, 0)
    assert [e[0] for e in everything] == ids
    assert everything[0][1] == "progress"
    assert everything[2][2]["progress"]["fraction"] == pytest.approx(0.2)
    after_first = events.read_events(redis_client, task, ids[0], 0)
    assert [e[0] for e in after_first] == ids[1:]
    assert events.read_events(redis_client, task, ids[-1], 0) == []
    assert [e[0] for e in events.read_events(redis_client, task, "not-an-id", 0)] == ids
    assert events.latest_event_id(redis_client, redis_keys.events_key(task)) == ids[-1]
    assert events.latest_event_id(redis_client, redis_keys.events_key(uuid.uuid4())) is None


def test_blocking_read_wakes_on_append(redis_url: str, redis_client: redis.Redis) -> None:
    task = uuid.uuid4()
    reader = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=None)
    started = time.monotonic()
    assert events.read_events(reader, task, "0", 150) == []
    assert time.monotonic() - started >= 0.14
    timer = threading.Timer(0.2, events.append_event, (redis_client, task, "status", _doc()))
    timer.start()
    got = events.read_events(reader, task, "0", 5000)
    timer.join()
    assert len(got) == 1 and got[0][1] == "status"
    reader.close()


def test_block_longer_than_socket_timeout_is_refused(redis_url: str) -> None:
    short = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=1.0)
    with pytest.raises(ValueError, match="socket_timeout"):
        events.read_events(short, uuid.uuid4(), None, 5000)
    short.close()


def test_log_is_capped_and_expires_after_terminal(redis_client: redis.Redis) -> None:
    task = uuid.uuid4()
    for _ in range(1500):
        events.append_event(redis_client, task, "progress", _doc())
    key = redis_keys.events_key(task)
    # MAXLEN ~ trims whole nodes only, so "about 1000", never the full 1500.
    assert 1000 <= redis_client.xlen(key) < 1200
    assert redis_client.ttl(key) > events.TERMINAL_TTL_S
    events.append_event(redis_client, task, "status", _doc(1.0, "succeeded"))
    assert 0 < redis_client.ttl(key) <= events.TERMINAL_TTL_S


def _row(task: uuid.UUID, owner: uuid.UUID | None = None) -> dict[str, object]:
    return {
        "id": task,
        "owner_id": owner or uuid.uuid4(),
        "status": "queued",
        "processor": "checksum",
        "filename": "a.txt",
        "size": 1,
        "content_type": "text/plain",
    }


def test_publish_status_appends_the_task_document(redis_client: redis.Redis) -> None:
    task = uuid.uuid4()
    row = _row(task)
    entry = events.publish_status(redis_client, row)
    [(got_id, kind, doc)] = events.read_events(redis_client, task, None, 0)
    assert (got_id, kind, doc["id"], doc["status"]) == (entry, "status", str(task), "queued")


def test_the_owner_log_gets_the_same_events(redis_client: redis.Redis) -> None:
    owner, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events.publish_status(redis_client, _row(first, owner))
    events.publish_status(redis_client, _row(second, owner))
    events.publish_status(redis_client, _row(uuid.uuid4()))  # someone else's
    key = redis_keys.user_events_key(owner)
    got = events.read_log(redis_client, key, None, 0)
    assert [doc["id"] for _, _, doc in got] == [str(first), str(second)]
    assert events.latest_event_id(redis_client, key) == got[-1][0]
    assert events.read_log(redis_client, key, got[0][0], 0) == got[1:]
    assert 0 < redis_client.ttl(key) <= events.OPEN_TTL_S


def test_publish_status_survives_a_dead_redis(redis_client: redis.Redis) -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    assert events.publish_status(dead, _row(uuid.uuid4())) is None


def test_progress_cache(redis_client: redis.Redis) -> None:
    task = uuid.uuid4()
    assert events.get_progress(redis_client, task) is None
    events.set_progress(redis_client, task, 1.5, "hashing", None)
    cached = events.get_progress(redis_client, task)
    assert cached["fraction"] == 1.0 and cached["stage"] == "hashing" and cached["message"] is None
    assert cached["updated_at"].endswith("Z")
    assert 0 < redis_client.ttl(redis_keys.progress_key(task)) <= events.PROGRESS_TTL_S


def test_progress_cache_cleared(redis_client: redis.Redis) -> None:
    task = uuid.uuid4()
    events.set_progress(redis_client, task, 0.7, "hashing", None)
    events.clear_progress(redis_client, task)
    assert events.get_progress(redis_client, task) is None


def test_cancel_signal(redis_client: redis.Redis) -> None:
    task = uuid.uuid4()
    assert not events.cancel_signalled(redis_client, task)
    events.signal_cancel(redis_client, task)
    assert events.cancel_signalled(redis_client, task)


def test_job_stream_and_group(redis_client: redis.Redis) -> None:
    entry = jobs.enqueue_job(redis_client, "checksum", "task-1")  # before any group exists
    jobs.ensure_group(redis_client, "checksum")
    jobs.ensure_group(redis_client, "checksum")
    got = redis_client.xreadgroup(
        redis_keys.JOB_GROUP, "c1", {redis_keys.job_stream("checksum"): ">"}, count=10
    )
    assert got[0][0] == "backdrop:jobs:checksum"
    assert got[0][1] == [(entry, {"task_id": "task-1"})]
