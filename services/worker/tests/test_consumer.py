"""The Redis Streams consumer: group creation, bounded reads, reclaim, keeping jobs fresh."""

from __future__ import annotations

import time
from typing import Any

from backdrop_common import jobs
from worker.consumer import StreamConsumer

from tests.helpers import pending


def _consumer(client: Any, name: str, **kw: Any) -> StreamConsumer:
    consumer = StreamConsumer(client, ["alpha", "beta"], name, block_ms=50, **kw)
    consumer.ensure_groups()
    return consumer


def test_jobs_enqueued_before_the_group_existed_are_delivered(redis_client: Any) -> None:
    jobs.enqueue_job(redis_client, "alpha", "early")
    consumer = _consumer(redis_client, "c1")
    consumer.ensure_groups()  # idempotent
    (delivery,) = consumer.read(5)
    assert (delivery.stream, delivery.task_id) == ("backdrop:jobs:alpha", "early")


def test_never_reads_more_than_the_free_slots(redis_client: Any) -> None:
    consumer = _consumer(redis_client, "c1")
    for n in range(4):
        jobs.enqueue_job(redis_client, "alpha", f"a{n}")
        jobs.enqueue_job(redis_client, "beta", f"b{n}")
    assert consumer.read(0) == []
    first = consumer.read(3)
    assert len(first) == 3
    assert pending(redis_client, "alpha") + pending(redis_client, "beta") == 3
    rest = consumer.read(10)
    assert len(rest) == 5
    assert {d.task_id for d in first + rest} == {f"{s}{n}" for s in "ab" for n in range(4)}
    assert consumer.read(1) == []  # blocks briefly, finds nothing


def test_idle_messages_are_reclaimed_unless_their_holder_touches_them(redis_client: Any) -> None:
    holder = _consumer(redis_client, "holder")
    rescuer = _consumer(redis_client, "rescuer", reclaim_idle_ms=200)
    jobs.enqueue_job(redis_client, "alpha", "kept")
    jobs.enqueue_job(redis_client, "beta", "abandoned")
    deliveries = {d.task_id: d for d in holder.read(2)}
    for _ in range(3):
        time.sleep(0.1)
        holder.touch(deliveries["kept"])  # the live holder renews its lease
    (taken,) = rescuer.reclaim(5)
    assert taken.task_id == "abandoned"
    rescuer.ack(taken)
    holder.ack(deliveries["kept"])
    assert pending(redis_client, "alpha") + pending(redis_client, "beta") == 0
