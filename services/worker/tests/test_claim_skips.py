"""What a worker does with a message whose task it cannot claim."""

from __future__ import annotations

from typing import Any

from backdrop_common import jobs, redis_keys, taskstore
from worker.runtime import Runtime
from worker.supervisor import JobSupervisor

from tests.helpers import pending


def _deliver(rt: Runtime) -> Any:
    (delivery,) = rt.consumer.read(1)
    return delivery


def test_message_of_a_finished_task_is_acked(runtime: Runtime, tasks: Any) -> None:
    row = tasks("checksum", b"x")
    taskstore.request_cancel(tasks.db, row["id"], row["owner_id"])
    JobSupervisor(runtime, _deliver(runtime)).run()
    assert pending(tasks.redis, "checksum") == 0


def test_message_of_a_task_running_elsewhere_stays_pending(runtime: Runtime, tasks: Any) -> None:
    row = tasks("checksum", b"x")
    assert taskstore.claim(tasks.db, row["id"], "other", 60) is not None
    JobSupervisor(runtime, _deliver(runtime)).run()
    # The other worker may depend on this very message; it is not ours to drop.
    assert pending(tasks.redis, "checksum") == 1
    assert taskstore.mark_succeeded(tasks.db, row["id"], "other", {"ok": True}) is not None
    jobs.enqueue_job(tasks.redis, "checksum", row["id"])  # a duplicate, processed later
    JobSupervisor(runtime, _deliver(runtime)).run()
    assert pending(tasks.redis, "checksum") == 1  # only the first one is left


def test_malformed_message_is_dropped(runtime: Runtime, tasks: Any) -> None:
    tasks.redis.xadd(redis_keys.job_stream("checksum"), {"nope": "1"})
    JobSupervisor(runtime, _deliver(runtime)).run()
    assert pending(tasks.redis, "checksum") == 0
