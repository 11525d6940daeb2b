"""The shared reader of an event log (``gateway.logtail``) against a real Redis."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis
from backdrop_common import events
from backdrop_common.redis_client import redis_from_url
from backdrop_common.redis_keys import events_key
from gateway import logtail
from gateway.logtail import LogTails

BLOCK_MS = 200


@pytest.fixture
def tails(redis_url: str, redis_client: redis.Redis) -> LogTails:
    return LogTails(redis_from_url(redis_url, socket_timeout=None), BLOCK_MS)


def _append(client: redis.Redis, task_id: uuid.UUID, status: str) -> str:
    return events.append_event(client, task_id, "status", {"id": str(task_id), "status": status})


def _new_log(client: redis.Redis) -> tuple[uuid.UUID, str, str]:
    """A task's log with one event: (task id, log key, that event's id)."""
    task_id = uuid.uuid4()
    return task_id, events_key(task_id), _append(client, task_id, "queued")


def test_followers_share_one_reader_and_keep_their_own_cursors(
    tails: LogTails, redis_client: redis.Redis
) -> None:
    task_id, key, first = _new_log(redis_client)
    got: dict[str, list[str]] = {"a": [], "b": []}

    def follow(name: str, cursor: str) -> None:
        with tails.follow(key, cursor) as tail:
            while len(got[name]) < 2:
                batch = tail.read(cursor, 5.0)
                assert batch is not None
                for event_id, _, doc in batch:
                    got[name].append(doc["status"])
                    cursor = event_id

    readers = [
        threading.Thread(target=follow, args=("a", first)),
        threading.Thread(target=follow, args=("b", first)),
    ]
    for t in readers:
        t.start()
    time.sleep(0.1)
    assert tails.count() == 1  # one reader for both
    _append(redis_client, task_id, "running")
    _append(redis_client, task_id, "succeeded")
    for t in readers:
        t.join(5)
    assert got == {"a": ["running", "succeeded"], "b": ["running", "succeeded"]}
    deadline = time.monotonic() + 2 * BLOCK_MS / 1000 + 1
    while tails.count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tails.count() == 0  # gone once nobody follows


def test_a_cursor_before_the_tail_reads_the_log_itself(
    tails: LogTails, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logtail, "KEEP", 3)
    task_id = uuid.uuid4()
    key = events_key(task_id)
    oldest = _append(redis_client, task_id, "queued")
    with tails.follow(key, oldest) as tail:
        ids = [_append(redis_client, task_id, f"s{n}") for n in range(5)]
        deadline = time.monotonic() + 5
        while tail.last != ids[-1] and time.monotonic() < deadline:
            time.sleep(0.02)
        # It forgot the two oldest of the five: a stream there must catch up by itself.
        assert tail.read(oldest, 0) is None
        assert [e[0] for e in tail.read(ids[1], 0) or []] == ids[2:]


def test_a_redis_failure_reaches_the_waiting_followers() -> None:
    dead = LogTails(redis_from_url("redis://127.0.0.1:1/0", socket_timeout=None), BLOCK_MS)
    with dead.follow("backdrop:events:x", "0") as tail, pytest.raises(redis.RedisError):
        tail.read("0", 5.0)
    assert dead.count() == 0  # the next follower starts afresh


def test_a_stream_the_tail_forgot_while_it_waited_reads_the_log_itself(tails: LogTails) -> None:
    # The stream waits at "5-0"; before it runs again the tail takes in more than it keeps
    # and forgets "6-0": handing it only what is left would skip that event.
    tail = logtail.LogTail(tails, "backdrop:events:forgot", "5-0")  # no reader thread
    got: list[Any] = []
    waiting = threading.Thread(target=lambda: got.append(tail.read("5-0", 5.0)))
    waiting.start()
    time.sleep(0.2)
    with tail.changed:
        tail.entries = [(f"{n}-0", "status", {}) for n in range(7, 7 + logtail.KEEP)]  # type: ignore[misc]
        tail.start = (6, 0)
        tail.changed.notify_all()
    waiting.join(5)
    assert got == [None]


def test_an_entry_that_is_not_ours_ends_the_streams_instead_of_stalling_them(
    tails: LogTails, redis_client: redis.Redis
) -> None:
    _, key, first = _new_log(redis_client)
    with tails.follow(key, first) as tail:
        redis_client.xadd(key, {"event": "status"})  # no data: read_log cannot decode it
        with pytest.raises(redis.RedisError):
            tail.read(first, 5.0)
    assert tails.count() == 0  # the next follower starts afresh


def test_events_after_a_redis_wipe_still_reach_the_followers(
    tails: LogTails, redis_client: redis.Redis
) -> None:
    # FLUSHALL (or a restart without persistence) drops the log under a running tail; the
    # next events get newer ids, so the tail and its streams carry on with them.
    task_id, key, first = _new_log(redis_client)
    with tails.follow(key, first) as tail:
        assert tail.read(first, 0.3) == []
        redis_client.flushdb()
        later = _append(redis_client, task_id, "succeeded")
        got = tail.read(first, 5.0)
    assert [(e[0], e[2]["status"]) for e in got or []] == [(later, "succeeded")]
