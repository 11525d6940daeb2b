"""Target 2: dispatch latency, upload-complete → claimed by a worker.

One task at a time (1 KiB checksum through presigned POST), each waited for before the next,
so every task arrives at workers blocked on their stream read; then tasks that arrive after
``idle_s`` in which the stack served nothing but the bench's ``/metrics`` scrapes
(``run.py`` lets the queue phase, which leaves the stack alone, fill that wait). The figure
is ``started_at - queued_at`` of the task's row in PostgreSQL: ``queued_at`` is written by
upload-complete, ``started_at`` by the worker's claim (both ``now()`` of PostgreSQL, one
clock). What the client adds before the upload service
writes ``queued_at`` (gateway, proxy) is in the details.
"""

from __future__ import annotations

import os
import time

import psycopg2
import stackctl
from accounts import User, create_task, new_user
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


class DispatchBench:
    """The phase in two parts, so that the wait for idle can overlap other work that leaves
    the stack alone: :meth:`warm` sends tasks back to back, :meth:`after_idle` sends each of
    its tasks once the stack has seen nothing for ``idle_s``, then adds the rows."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.user: User | None = None  # registered by the first task, inside a phase
        self.payload = os.urandom(1024)
        self.sent: dict[str, float] = {}
        self.warm_ids: list[str] = []
        self.quiet_since = time.monotonic()

    def _one(self, i: int) -> str:
        if self.user is None:
            self.user = new_user(self.base_url, "benchdispatch")
        client = self.user.client
        created = create_task(client, len(self.payload), filename=f"d{i}.bin")
        task_id = str(created["task"]["id"])
        client.post_form(created["upload"], self.payload)
        self.sent[task_id] = time.time()
        client.upload_complete(task_id)
        client.wait(task_id, timeout=30, interval=0.02)
        self.quiet_since = time.monotonic()
        return task_id

    def warm(self, count: int) -> None:
        """``count`` tasks one at a time, each waited for before the next."""
        print(f"bench: (dispatch) {count} tasks one at a time", flush=True)
        self.warm_ids = [self._one(i) for i in range(count)]

    def after_idle(self, report: Report, count: int, idle_s: float = 10.0) -> None:
        """``count`` tasks, each after ``idle_s`` without a task (the time since the last
        one counts); then the phase's rows."""
        print(f"bench: (dispatch) {count} task(s), each after {idle_s:.0f}s idle", flush=True)
        idle_ids, quiet = [], []
        for i in range(count):
            time.sleep(max(0.0, idle_s - (time.monotonic() - self.quiet_since)))
            quiet.append(round(time.monotonic() - self.quiet_since, 1))
            idle_ids.append(self._one(len(self.warm_ids) + i))
        self._add_rows(report, idle_ids, idle_s, quiet)

    def _add_rows(
        self, report: Report, idle_ids: list[str], idle_s: float, quiet: list[float]
    ) -> None:
        warm_ids = self.warm_ids
        timings = _timings(warm_ids + idle_ids)
        hot = [timings[t][0] for t in warm_ids if t in timings]
        cold = [timings[t][0] for t in idle_ids if t in timings]
        before_queued = [(timings[t][1] - self.sent[t]) * 1000 for t in timings]
        if len(timings) < len(warm_ids) + len(idle_ids):
            missing = len(warm_ids) + len(idle_ids) - len(timings)
            report.problem(f"(dispatch) {missing} tasks were never claimed")
        report.details["dispatch"] = {
            "warm_ms": sorted(hot),
            "after_idle_ms": cold,
            "idle_s": idle_s,
            # How long each idle task's stack had really been idle, and how busy the machine
            # was meanwhile (the queue phase may have filled that time).
            "idle_before_each_s": quiet,
            "loadavg_at_end": os.getloadavg(),
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
