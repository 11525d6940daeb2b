"""Three workers drain 300 small checksum tasks: each runs exactly once."""

from __future__ import annotations

import contextlib
import hashlib
import statistics
import time
from typing import Any

import pytest

from tests.helpers import pending, wait_for

TASKS = 300


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_three_workers_run_300_tasks_exactly_once(
    start_worker: Any, tasks: Any, redis_client: Any, db: Any
) -> None:
    # The backlog is queued before any worker starts (the group starts at 0, so nothing
    # enqueued earlier is missed); the wall time then measures the workers alone.
    payloads = {}
    for n in range(TASKS):
        data = f"task {n}\n".encode() * (n + 1)
        row = tasks("checksum", data)
        payloads[str(row["id"])] = hashlib.sha256(data).hexdigest()
    started = time.monotonic()
    workers = [start_worker("--processors", "checksum", ready=False) for _ in range(3)]

    def all_done() -> bool:
        with db.cursor() as cur:
            cur.execute(
                "SELECT count(*) AS n FROM tasks.tasks WHERE owner_id = %s"
                " AND status IN ('succeeded', 'failed', 'cancelled')",
                (tasks.owner,),
            )
            return bool(cur.fetchone()["n"] == TASKS)

    wait_for(all_done, 240, 0.1)
    wall = time.monotonic() - started
    with db.cursor() as cur:
        cur.execute(
            "SELECT id, status, attempts, worker_id, result, started_at, finished_at"
            " FROM tasks.tasks WHERE owner_id = %s",
            (tasks.owner,),
        )
        rows = cur.fetchall()
    drain = max(r["finished_at"] for r in rows) - min(r["started_at"] for r in rows)
    assert len(rows) == TASKS
    assert {r["status"] for r in rows} == {"succeeded"}
    assert all(r["attempts"] == 1 for r in rows), "no worker died, so nothing ran twice"
    assert all(r["result"]["sha256"] == payloads[str(r["id"])] for r in rows)
    per_worker = {w.worker_id: sum(r["worker_id"] == w.worker_id for r in rows) for w in workers}
    wait_for(lambda: pending(redis_client, "checksum") == 0, 5)
    stream_len = redis_client.xlen("backdrop:jobs:checksum")

    def logged_seconds() -> list[float]:
        return sorted(
            float(r["message"].rsplit(" in ", 1)[1].split()[0])
            for w in workers
            for r in w.log_records()
            if r.get("logger") == "worker.supervisor" and ": succeeded in " in r["message"]
        )

    # A job's log line is its supervisor's last act, after the ACK and the owner's release:
    # the last one may still be on its way when the stream says nothing is pending.
    with contextlib.suppress(AssertionError):  # the assert below says how many arrived
        wait_for(lambda: len(logged_seconds()) >= TASKS, 5)
    job_seconds = logged_seconds()
    assert len(job_seconds) == TASKS
    print(
        f"\n{TASKS} tasks, 3 workers x 2 slots: {wall:.1f} s from launching the workers, "
        f"{drain.total_seconds():.1f} s from first claim to last finish; "
        f"per worker {per_worker}; stream entries {stream_len}; job time (claim to ACK) "
        f"median {statistics.median(job_seconds) * 1000:.0f} ms, "
        f"p95 {job_seconds[int(len(job_seconds) * 0.95)] * 1000:.0f} ms"
    )
    assert stream_len == 0  # every acknowledged entry was deleted
    (group,) = redis_client.xinfo_groups("backdrop:jobs:checksum")
    assert (group["pending"], group["lag"], group["entries-read"]) == (0, 0, TASKS)
    assert all(count > 0 for count in per_worker.values())
