"""(b) Processing throughput: N small checksum tasks through presigned POST and the workers.

Baseline: hashing the same bytes with hashlib in this process (what the checksum processor
computes, without the service around it). The service figure is the wall time from the first
create to the last ``finished_at``, so it counts API, S3, queueing, workers and the database.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from accounts import User, create_task, new_user, parse_time
from backdrop_client import TERMINAL, BackdropError, Client
from report import Report, Row, percentile

KiB = 1024


def hashlib_baseline(payloads: list[bytes], repeats: int = 5) -> float:
    """Seconds to sha256 every payload in-process (best of ``repeats``)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for data in payloads:
            hashlib.sha256(data).hexdigest()
        best = min(best, time.perf_counter() - t0)
    return best


def _wait_all(users: list[User], ids: set[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Poll each user's task list until every id in ``ids`` is terminal; returns their JSON."""
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while len(done) < len(ids) and time.monotonic() < deadline:
        for user in users:
            for task in user.client.list_page(limit=100)["items"]:
                if task["id"] in ids and task["status"] in TERMINAL:
                    done[task["id"]] = task
        if len(done) < len(ids):
            time.sleep(0.25)
    return done


def bench_processing(
    report: Report,
    base_url: str,
    count: int,
    size: int,
    per_user_cap: int = 20,
    submitters: int = 16,
    timeout_s: float = 240.0,
) -> None:
    """Submit ``count`` checksum tasks of ``size`` bytes, wait for all, add rows to ``report``."""
    n_users = max(1, -(-count // per_user_cap))
    print(
        f"bench: (b) {count} checksum tasks x {size // KiB} KiB via presigned POST "
        f"({n_users} users: the per-user cap of unfinished tasks is {per_user_cap})",
        flush=True,
    )
    users = [new_user(base_url, "benchproc") for _ in range(n_users)]
    payloads = [os.urandom(size) for _ in range(count)]
    baseline_s = hashlib_baseline(payloads)

    local = threading.local()
    quota_waits = Counter[str]()
    lock = threading.Lock()
    first_create: list[float] = []

    def on_quota() -> None:
        with lock:
            quota_waits["429"] += 1

    def submit(i: int) -> str:
        user = users[i % n_users]
        # One Client per thread and user: a client's connections are not thread-safe.
        clients: dict[str, Client] = local.__dict__.setdefault("clients", {})
        client = clients.get(user.user_id) or clients.setdefault(user.user_id, user.client.fork())
        t0 = time.time()
        created = create_task(client, size, filename=f"p{i}.bin", on_quota=on_quota)
        with lock:
            first_create.append(t0)
        task_id = str(created["task"]["id"])
        client.post_form(created["upload"], payloads[i])
        client.upload_complete(task_id)
        return task_id

    ids: set[str] = set()
    errors: Counter[str] = Counter()
    t_start = time.time()
    with ThreadPoolExecutor(submitters) as pool:
        futures = [pool.submit(submit, i) for i in range(count)]
        for fut in as_completed(futures):
            try:
                ids.add(fut.result())
            except (BackdropError, RuntimeError) as exc:
                errors[str(exc)[:200]] += 1
    t_submitted = time.time()
    tasks = _wait_all(users, ids, timeout_s)
    t_seen = time.time()

    statuses = Counter(t["status"] for t in tasks.values())
    missing = len(ids) - len(tasks)
    if errors:
        report.problem(f"(b) submitting failed for {sum(errors.values())} tasks: {dict(errors)}")
    if missing:
        report.problem(f"(b) {missing} tasks not terminal after {timeout_s:.0f}s")
    if statuses.get("succeeded", 0) != len(tasks):
        bad = [t for t in tasks.values() if t["status"] != "succeeded"][:3]
        report.problem(
            f"(b) not every task succeeded: {dict(statuses)}; e.g. "
            + "; ".join(f"{t['id']} {t['status']} {t.get('error')}" for t in bad)
        )
    succeeded = [t for t in tasks.values() if t["status"] == "succeeded"]
    start = min(first_create) if first_create else t_start
    finishes = [parse_time(t["finished_at"]) for t in succeeded]
    end = max((f for f in finishes if f is not None), default=t_seen)
    wall = end - start
    queue = [
        q for t in succeeded if (q := _delta(t.get("queued_at"), t.get("started_at"))) is not None
    ]
    run = [
        r for t in succeeded if (r := _delta(t.get("started_at"), t.get("finished_at"))) is not None
    ]
    e2e = [
        r for t in succeeded if (r := _delta(t.get("created_at"), t.get("finished_at"))) is not None
    ]
    retried = sum(1 for t in succeeded if int(t.get("attempts", 1)) > 1)
    n_ok = max(1, len(succeeded))
    per_task_service = wall / n_ok
    per_task_hash = baseline_s / count
    report.details["processing"] = {
        "tasks": count,
        "bytes_each": size,
        "users": n_users,
        "submit_threads": submitters,
        "succeeded": len(succeeded),
        "statuses": dict(statuses),
        "retried": retried,
        "quota_429_retries": quota_waits["429"],
        "submit_seconds": t_submitted - t_start,
        "wall_seconds": wall,
        "hashlib_seconds": baseline_s,
        "per_task_overhead_ms": (per_task_service - per_task_hash) * 1000,
        "queue_latency_ms": {
            "p50": _ms(percentile(queue, 50)),
            "p95": _ms(percentile(queue, 95)),
            "max": _ms(max(queue, default=None)),
        },
        "run_ms": {"p50": _ms(percentile(run, 50)), "p95": _ms(percentile(run, 95))},
        "created_to_finished_ms": {
            "p50": _ms(percentile(e2e, 50)),
            "p95": _ms(percentile(e2e, 95)),
        },
    }
    if quota_waits["429"]:
        report.note(f"(b) the per-user cap answered 429 {quota_waits['429']} times (retried)")
    label = f"hashlib.sha256 of the same {count} x {size // KiB} KiB in-process"
    report.add(
        Row(
            "b processing",
            f"wall, first create -> last finished ({count} tasks)",
            wall,
            "s",
            baseline_s,
            label,
        )
    )
    report.add(
        Row(
            "b processing",
            "throughput",
            len(succeeded) / wall if wall > 0 else None,
            "tasks/s",
            count / baseline_s,
            label,
        )
    )
    report.add(
        Row(
            "b processing",
            "time per task (wall / N)",
            per_task_service * 1000,
            "ms",
            per_task_hash * 1000,
            label,
            "overhead = value - baseline",
        )
    )
    report.add(
        Row(
            "b processing",
            "queue latency queued->started p50",
            _ms(percentile(queue, 50)),
            "ms",
            _ms(percentile(run, 50)),
            "run time started->finished p50",
        )
    )
    report.add(
        Row(
            "b processing",
            "queue latency queued->started p95",
            _ms(percentile(queue, 95)),
            "ms",
            _ms(percentile(run, 95)),
            "run time started->finished p95",
        )
    )


def _delta(a: str | None, b: str | None) -> float | None:
    ta, tb = parse_time(a), parse_time(b)
    return None if ta is None or tb is None else tb - ta


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
