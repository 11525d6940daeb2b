"""Workers dying or stopping mid-job: nothing lost, nothing done twice."""

from __future__ import annotations

import signal
import time
from typing import Any

from backdrop_common import events, redis_keys

from tests.helpers import alive, descendants, pending, wait_for


def _running_on(tasks: Any, redis_client: Any, row: dict[str, Any], worker: Any) -> None:
    running = tasks.wait_status(row["id"], "running", timeout=15)
    assert running["worker_id"] == worker.worker_id
    wait_for(lambda: events.get_progress(redis_client, row["id"]), 10)


def test_sigkill_mid_job_is_taken_over_within_ten_seconds(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    workers = {w.worker_id: w for w in (start_worker("--processors", "sleepy") for _ in "ab")}
    row = tasks("sleepy", params={"seconds": 12})  # default lease settings
    holder = tasks.wait_status(row["id"], "running", timeout=15)["worker_id"]
    wait_for(lambda: events.get_progress(redis_client, row["id"]), 10)
    first = workers.pop(holder)
    (second,) = workers.values()
    children = descendants(first.proc.pid)  # the forkserver and the horses
    assert len(children) >= 2
    first.signal(signal.SIGKILL)
    first.wait(5)
    killed_at = time.monotonic()
    # No orphan keeps running the job (it would write artifacts for a task now elsewhere).
    wait_for(lambda: not any(alive(pid) for pid in children), 3)
    wait_for(lambda: tasks.get(row["id"])["attempts"] == 2, 20, 0.05)
    took = time.monotonic() - killed_at
    print(f"taken over {took:.1f} s after the SIGKILL")
    assert took < 12  # ≤ 10 s by design (lease 6 s x 1.25 + one 1 s reclaim pass), + slack
    done = tasks.wait_status(row["id"], "succeeded", "failed", timeout=40)
    assert (done["status"], done["worker_id"], done["attempts"]) == (
        "succeeded",
        second.worker_id,
        2,
    )
    # The new attempt visibly started from zero, not from the old attempt's progress.
    second_start = [
        doc
        for _, kind, doc in events.read_events(redis_client, str(row["id"]), "0-0", 0, 1000)
        if kind == "status" and doc["status"] == "running" and doc["attempts"] == 2
    ]
    assert second_start and second_start[0]["progress"]["fraction"] == 0.0
    wait_for(lambda: pending(redis_client, "sleepy") == 0, 5)
    # Exactly one result: the first worker's horse died with it and wrote nothing later.
    time.sleep(1)
    assert tasks.get(row["id"])["result"] == done["result"]


def test_sigterm_lets_a_short_job_finish_within_grace(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    worker = start_worker("--processors", "sleepy", "--shutdown-grace", "20")
    row = tasks("sleepy", params={"seconds": 2})
    _running_on(tasks, redis_client, row, worker)
    worker.signal(signal.SIGTERM)
    assert worker.wait(25) == 0, worker.logs()[-4000:]
    done = tasks.get(row["id"])
    assert (done["status"], done["attempts"], done["worker_id"]) == (
        "succeeded",
        1,
        worker.worker_id,
    )
    assert pending(redis_client, "sleepy") == 0
    assert not redis_client.exists(redis_keys.worker_key(worker.worker_id))


def test_sigterm_hands_back_a_long_job_to_another_worker(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    first = start_worker("--processors", "sleepy", "--shutdown-grace", "1")
    row = tasks("sleepy", params={"seconds": 4})
    _running_on(tasks, redis_client, row, first)
    first.signal(signal.SIGTERM)
    assert first.wait(15) == 0, first.logs()[-4000:]
    handed = tasks.get(row["id"])
    assert handed["status"] == "queued"
    assert handed["attempts"] == 0  # a hand-back is not a failed attempt
    second = start_worker("--processors", "sleepy")
    done = tasks.wait_status(row["id"], "succeeded", "failed", timeout=30)
    assert (done["status"], done["worker_id"], done["attempts"]) == (
        "succeeded",
        second.worker_id,
        1,
    )
    wait_for(lambda: pending(redis_client, "sleepy") == 0, 5)


def test_sigint_behaves_like_sigterm(start_worker: Any, tasks: Any, redis_client: Any) -> None:
    worker = start_worker("--processors", "sleepy")
    row = tasks("sleepy", params={"seconds": 1})
    _running_on(tasks, redis_client, row, worker)
    worker.signal(signal.SIGINT)
    assert worker.wait(25) == 0, worker.logs()[-4000:]
    assert tasks.get(row["id"])["status"] == "succeeded"


def test_lost_lease_abandons_the_job_without_finalising(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    worker = start_worker("--processors", "sleepy", "--lease", "1.5")
    row = tasks("sleepy", params={"seconds": 4})
    _running_on(tasks, redis_client, row, worker)
    horses = descendants(worker.proc.pid) - _forkserver(worker)
    # Another worker took the task over (as after a lapsed lease): ours must notice and stop.
    with tasks.db.cursor() as cur:
        cur.execute(
            "UPDATE tasks.tasks SET worker_id = 'thief', lease_until = now() + interval '1 hour'"
            " WHERE id = %s",
            (row["id"],),
        )
    # The job's horse is killed (the idle ones stay; a fresh one may take its place).
    wait_for(lambda: not all(alive(pid) for pid in horses), 5)
    time.sleep(4)  # well past the point where the job would have finished
    after = tasks.get(row["id"])
    assert (after["status"], after["worker_id"], after["result"]) == ("running", "thief", None)
    assert pending(redis_client, "sleepy") == 1  # not ACKed: the new holder may need it
    assert "lease lost" in worker.logs()


def _forkserver(worker: Any) -> set[int]:
    """The worker's direct children (the forkserver), which stay."""
    return {pid for pid in descendants(worker.proc.pid) if _parent(pid) == worker.proc.pid}


def _parent(pid: int) -> int:
    """``pid``'s parent, or -1 once it has exited (the child being killed races this)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except FileNotFoundError:
        return -1


def test_second_sigterm_hands_back_at_once(
    start_worker: Any, tasks: Any, redis_client: Any, storage: Any
) -> None:
    worker = start_worker("--processors", "sleepy", "--shutdown-grace", "60")
    row = tasks("sleepy", params={"seconds": 60, "partial": True})
    prefix = f"users/{row['owner_id']}/tasks/{row['id']}/artifacts/"
    _running_on(tasks, redis_client, row, worker)
    worker.signal(signal.SIGTERM)
    time.sleep(0.5)
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0, worker.logs()[-4000:]
    handed = tasks.get(row["id"])
    assert (handed["status"], handed["attempts"]) == ("queued", 0)
    # Put straight back on the stream (the old entry was acknowledged and deleted).
    assert redis_client.xlen("backdrop:jobs:sleepy") == 1
    assert pending(redis_client, "sleepy") == 0
    # The next attempt starts clean: the partial artifact of this one is gone.
    listing = storage.s3.list_objects_v2(Bucket=storage.bucket, Prefix=prefix)
    assert listing.get("KeyCount", 0) == 0
