"""Targets 1, 3 and 9 of issue 9: queue-only throughput against Celery and Dramatiq, worker
CPU per job, and how throughput grows with worker processes (mechanics in queue_only.py).

Backdrop drains twice, before and after the baselines, and the two drains are pooled: the
machine's speed drifts by 10-40 % within an hour (docs/PERFORMANCE.md), and a single drain
before the baselines put all of that drift into every ratio; pooling cancels a steady drift
and lessens any other. The second drain is not quite the first again: the task table then
also holds the first drain's finished rows, the bucket its objects.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter

from queue_only import DEFAULT_WORKERS, Drain, QueueBench
from report import Report, Row, at_most, ratio_at_least


def _hash_cost_ms(size: int, rounds: int = 2000) -> float:
    """What the checksum processor itself computes: sha256 of ``size`` bytes, in ms."""
    data = os.urandom(size)
    t0 = time.process_time()
    for _ in range(rounds):
        hashlib.sha256(data).hexdigest()
    return (time.process_time() - t0) * 1000 / rounds


def _pooled(first: Drain, second: Drain) -> Drain:
    """Two drains of the same system as one: jobs, seconds and CPU added up."""
    one, two = first.extra.get("server_cpu_s", {}), second.extra.get("server_cpu_s", {})
    servers = {name: one.get(name, 0.0) + two.get(name, 0.0) for name in {**one, **two}}
    statuses = Counter(first.extra.get("statuses", {})) + Counter(second.extra.get("statuses", {}))
    rates = [round(d.rate or 0.0, 1) for d in (first, second)]
    return Drain(
        first.system,
        first.jobs + second.jobs,
        first.seconds + second.seconds,
        None if first.cpu_s is None or second.cpu_s is None else first.cpu_s + second.cpu_s,
        first.errors + second.errors,
        {
            **first.extra,
            "statuses": dict(statuses),
            "server_cpu_s": servers,
            "rates_before_and_after": rates,
        },
    )


def bench_queue(
    report: Report, jobs: int, scale_jobs: int, timeout_s: float, *, full: bool = True
) -> None:
    """Drain ``jobs`` with the default fleet and each baseline; when ``full``, also the
    baselines with the bytes in the message and ``scale_jobs`` with 1, 2 and 4 worker
    processes (each drain starts its own processes: ``--quick`` leaves these out)."""
    print(f"bench: (queue) {jobs} checksum jobs x 1 KiB, queued through the task store", flush=True)
    qb = QueueBench()
    drains: dict[str, Drain] = {}
    try:
        drains["ours_before"] = qb.drain_backdrop(jobs, DEFAULT_WORKERS, timeout_s)
        # The baselines read the very objects the last seed stored: same job, same bytes.
        drains["celery"] = qb.drain_baseline("celery")
        drains["dramatiq"] = qb.drain_baseline("dramatiq")
        drains["ours_after"] = qb.drain_backdrop(jobs, DEFAULT_WORKERS, timeout_s)
        drains["ours"] = _pooled(drains["ours_before"], drains["ours_after"])
        if full:
            drains["celery_inline"] = qb.drain_baseline("celery", inline=True)
            drains["dramatiq_inline"] = qb.drain_baseline("dramatiq", inline=True)
            for n in (1, DEFAULT_WORKERS, 4):
                drains[f"workers_{n}"] = qb.drain_backdrop(scale_jobs, n, timeout_s)
    finally:
        qb.close()
        report.details["queue"] = {
            name: {**vars(d), "rate": d.rate, "cpu_ms_per_job": d.cpu_ms_per_job}
            for name, d in drains.items()
        }
    ours = drains["ours"]
    slots = ours.extra.get("concurrency")
    before, after = ours.extra["rates_before_and_after"]
    figure = (
        f"{jobs} jobs, {DEFAULT_WORKERS} workers x {slots} slots, drained before and after"
        f" the baselines ({before:,.0f} and {after:,.0f} jobs/s), pooled"
    )
    for name, bound, label in (
        ("celery", 2.0, "Celery threads x 8, results in Redis, same S3 read"),
        ("dramatiq", 1.0, "Dramatiq 1 process x 8 threads, same S3 read"),
    ):
        base = drains[name]
        report.add(
            Row(
                "1 queue", figure, ours.rate, "jobs/s", base.rate, label, goal=ratio_at_least(bound)
            )
        )
    for name, label in (
        ("celery_inline", "Celery threads x 8, 1 KiB in the message (no S3 read)"),
        ("dramatiq_inline", "Dramatiq 1 x 8, 1 KiB in the message (no S3 read)"),
    ):
        if name in drains:
            report.add(Row("1 queue", figure, ours.rate, "jobs/s", drains[name].rate, label))
    if ours.errors:
        total = ours.jobs + ours.errors  # ``jobs`` counts the succeeded ones
        report.problem(f"(queue) {ours.errors} of {total} jobs did not succeed: {ours.extra}")
    hash_ms = _hash_cost_ms(1024)
    worker_ms = None if ours.cpu_ms_per_job is None else ours.cpu_ms_per_job - hash_ms
    report.add(
        Row(
            "3 worker CPU",
            "worker CPU per job beyond the processor (all worker processes and children)",
            worker_ms,
            "ms",
            drains["celery"].cpu_ms_per_job,
            "Celery worker CPU per job (same job)",
            f"the processor's own sha256 of 1 KiB: {hash_ms * 1000:.1f} us",
            goal=at_most(5.0),
        )
    )
    if not full:
        report.note("1, 2 and 4 worker processes (target 9): measured without --quick")
        return
    one = drains["workers_1"].rate
    for n in (1, DEFAULT_WORKERS, 4):
        drain = drains[f"workers_{n}"]
        servers = drain.extra.get("server_cpu_s", {})
        spent = ", ".join(f"{k} {v:.1f}s" for k, v in servers.items())
        report.add(
            Row(
                "9 scaling",
                f"{n} worker process(es) x {slots} slots, {drain.jobs} jobs",
                drain.rate,
                "jobs/s",
                one,
                "1 worker process",
                f"CPU: workers {drain.cpu_s or 0:.1f}s, {spent}",
            )
        )
