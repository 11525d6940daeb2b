"""Target 2: dispatch latency, upload-complete → claimed by a worker.

One task at a time (1 KiB checksum through presigned POST), each waited for before the next,
so every task arrives at workers blocked on their stream read; then tasks that arrive after
``idle_s`` of nothing at all. The figure is ``started_at - queued_at`` of the task's row in
PostgreSQL: ``queued_at`` is written by upload-complete, ``started_at`` by the worker's claim
(both ``now()`` of PostgreSQL, one clock). What the client adds before the upload service
writes ``queued_at`` (gateway, proxy) is in the details.
"""

from __future__ import annotations

import os
import time

import psycopg2
import stackctl
from accounts import create_task, new_user
from report import Report, Row, at_most, percentile


def _timings(task_ids: list[str]) -> dict[str, tuple[float, float]]:
    """Per task: (queued_at -> started_at, queued_at) in (ms, epoch seconds)."""
    with psycopg2.connect(stackctl.DATABASE_URL) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT id::text, extract(epoch FROM started_at - queued_at) * 1000,"
            " extract(epoch FROM queued_at) FROM tasks.tasks WHERE id = ANY(%s::uuid[])",
            (task_ids,),
        )
        rows = cur.fetchall()
    conn.close()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows if r[1] is not None}


def bench_dispatch(
    report: Report, base_url: str, warm: int, idle: int, idle_s: float = 10.0
) -> None:
    """``warm`` back-to-back tasks, then ``idle`` tasks each after ``idle_s`` of quiet."""
    print(
        f"bench: (dispatch) {warm} tasks one at a time, then {idle} after {idle_s:.0f}s idle each",
        flush=True,
    )
    user = new_user(base_url, "benchdispatch")
    client = user.client
    payload = os.urandom(1024)
    sent: dict[str, float] = {}

    def one(i: int) -> str:
        created = create_task(client, len(payload), filename=f"d{i}.bin")
        task_id = str(created["task"]["id"])
        client.post_form(created["upload"], payload)
        sent[task_id] = time.time()
        client.upload_complete(task_id)
        client.wait(task_id, timeout=30, interval=0.02)
        return task_id

    warm_ids = [one(i) for i in range(warm)]
    idle_ids = []
    for i in range(idle):
        time.sleep(idle_s)
        idle_ids.append(one(warm + i))
    timings = _timings(warm_ids + idle_ids)
    hot = [timings[t][0] for t in warm_ids if t in timings]
    cold = [timings[t][0] for t in idle_ids if t in timings]
    before_queued = [(timings[t][1] - sent[t]) * 1000 for t in timings]
    if len(timings) < warm + idle:
        report.problem(f"(dispatch) {warm + idle - len(timings)} tasks were never claimed")
    report.details["dispatch"] = {
        "warm_ms": sorted(hot),
        "after_idle_ms": cold,
        "idle_s": idle_s,
        "client_upload_complete_to_queued_at_ms": {
            "p50": percentile(before_queued, 50),
            "p99": percentile(before_queued, 99),
        },
    }
    what = "queued_at -> started_at (upload-complete -> claimed)"
    for name, pct, bound in (("p50", 50, 5.0), ("p99", 99, 20.0)):
        report.add(
            Row(
                "2 dispatch",
                f"{what} {name}, {len(hot)} tasks one at a time",
                percentile(hot, pct),
                "ms",
                goal=at_most(bound),
            )
        )
    report.add(
        Row(
            "2 dispatch",
            f"{what} after {idle_s:.0f}s idle, worst of {len(cold)}",
            max(cold, default=None),
            "ms",
            goal=at_most(20.0),
        )
    )
