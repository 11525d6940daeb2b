"""Target 4: tiny checksum tasks end to end through the public API, as users do it.

Each of ``clients`` clients (its own user and connection) loops: create → presigned POST of
the bytes → upload-complete → poll ``GET /v1/tasks/{id}`` until the task is finished, then the
next task. Throughput = succeeded tasks / (last ``finished_at`` - first create). Latency =
the task's ``finished_at`` minus the moment the client sent upload-complete (same machine,
same clock), so the poll interval does not count.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import fleet
import stackctl
from accounts import User, create_task, new_user, parse_time
from backdrop_client import TERMINAL
from report import Report, Row, at_least, at_most, percentile

SERVICES = ("gateway", "upload", "auth", "sweeper")

POLL_S = 0.02


class CpuByProcess:
    """CPU seconds of each part of the system between :meth:`start` and :meth:`stop`: the
    services, the workers (with their job processes), PostgreSQL, Redis, the S3 stand-in
    and this bench's own clients."""

    def __init__(self) -> None:
        self.supervisord = stackctl.supervisord_pid()
        self.services = {name: [stackctl.program_pid(name)] for name in SERVICES}
        self.servers = fleet.CpuWatch()
        self.first: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: stackctl.group_cpu_seconds(pids) for name, pids in self.services.items()}
        stack = stackctl.group_cpu_seconds([self.supervisord]) if self.supervisord else 0.0
        now["workers"] = stack - sum(now.values())  # the rest of the stack: the fleet
        own = os.times()
        now["bench clients"] = own.user + own.system
        return now

    def start(self) -> None:
        """Take the first reading."""
        self.first = self._now()
        self.servers.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds per part since :meth:`start`."""
        spent = {k: v - self.first.get(k, 0.0) for k, v in self._now().items()}
        return {**spent, **self.servers.stop()}


@dataclass
class Sample:
    """One task of the run: when its client sent upload-complete, and the finished task."""

    created: float
    upload_complete: float
    task: dict[str, Any] = field(default_factory=dict)


def _loop(user: User, count: int, payload: bytes, timeout_s: float) -> list[Sample]:
    """One client's closed loop of ``count`` tasks."""
    out = []
    with user.client.fork() as client:
        for i in range(count):
            t_create = time.time()
            created = create_task(client, len(payload), filename=f"e{i}.bin")
            task_id = str(created["task"]["id"])
            client.post_form(created["upload"], payload)
            t_complete = time.time()
            client.upload_complete(task_id)
            deadline = time.monotonic() + timeout_s
            task = client.get_task(task_id)
            while task["status"] not in TERMINAL and time.monotonic() < deadline:
                time.sleep(POLL_S)
                task = client.get_task(task_id)
            out.append(Sample(t_create, t_complete, task))
    return out


def bench_processing(
    report: Report, base_url: str, count: int, size: int, clients: int = 8, timeout_s: float = 60
) -> None:
    """``count`` checksum tasks of ``size`` bytes by ``clients`` closed-loop clients."""
    print(
        f"bench: (e2e) {count} checksum tasks x {size} B, {clients} clients, each: create -> "
        f"presigned POST -> upload-complete -> poll every {POLL_S * 1000:.0f} ms",
        flush=True,
    )
    users = [new_user(base_url, "benche2e") for _ in range(clients)]
    payload = os.urandom(size)
    cpu = CpuByProcess()
    cpu.start()
    with ThreadPoolExecutor(clients) as pool:
        shares = [count // clients + (1 if n < count % clients else 0) for n in range(clients)]
        runs = pool.map(lambda n: _loop(users[n], shares[n], payload, timeout_s), range(clients))
        samples = [s for run in runs for s in run]
    spent = cpu.stop()
    statuses = Counter(str(s.task["status"]) for s in samples)
    ok = [s for s in samples if s.task["status"] == "succeeded"]
    if len(ok) != count:
        report.problem(f"(e2e) not every task succeeded: {dict(statuses)}")
    finishes = [f for s in ok if (f := parse_time(s.task["finished_at"])) is not None]
    wall = (max(finishes) - min(s.created for s in samples)) if finishes else 0.0
    latency = [
        (f - s.upload_complete) * 1000
        for s in ok
        if (f := parse_time(s.task["finished_at"])) is not None
    ]
    queued = [_delta_ms(s.task, "queued_at", "started_at") for s in ok]
    running = [_delta_ms(s.task, "started_at", "finished_at") for s in ok]
    report.details["e2e"] = {
        "tasks": count,
        "bytes_each": size,
        "clients": clients,
        "statuses": dict(statuses),
        "wall_seconds": wall,
        "upload_complete_to_succeeded_ms": _pcts(latency),
        "queued_to_started_ms": _pcts([q for q in queued if q is not None]),
        "started_to_finished_ms": _pcts([r for r in running if r is not None]),
        "cpu_ms_per_task": {k: v * 1000 / len(samples) for k, v in spent.items()},
    }
    report.add(
        Row(
            "4 end to end",
            f"{clients} clients, {size} B checksum tasks, presigned POST ({len(ok)} tasks)",
            len(ok) / wall if wall > 0 else None,
            "tasks/s",
            goal=at_least(100.0),
        )
    )
    per_task = {k: v * 1000 / len(samples) for k, v in spent.items()}
    report.add(
        Row(
            "4 end to end",
            "CPU per task, every process of the machine together",
            sum(per_task.values()),
            "ms",
            note=", ".join(
                f"{k} {v:.1f}" for k, v in sorted(per_task.items(), key=lambda x: -x[1])
            ),
        )
    )
    for name, pct in (("p50", 50), ("p99", 99)):
        report.add(
            Row(
                "4 end to end",
                f"upload-complete sent -> finished_at (succeeded) {name}",
                percentile(latency, pct),
                "ms",
                note="closed loop: one task per client at a time",
                goal=at_most(100.0) if pct == 99 else None,
            )
        )


def _delta_ms(task: dict[str, Any], start: str, end: str) -> float | None:
    a, b = parse_time(task.get(start)), parse_time(task.get(end))
    return None if a is None or b is None else (b - a) * 1000


def _pcts(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values or [0])}
