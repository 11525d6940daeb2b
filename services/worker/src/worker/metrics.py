"""Prometheus metrics of a worker (served on its health port at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS_STARTED = Counter(
    "backdrop_worker_jobs_started_total", "Jobs claimed and started", ["processor"]
)
JOBS_SUCCEEDED = Counter(
    "backdrop_worker_jobs_succeeded_total", "Jobs that succeeded", ["processor"]
)
JOBS_FAILED = Counter(
    "backdrop_worker_jobs_failed_total", "Jobs that failed", ["processor", "code"]
)
JOBS_CANCELLED = Counter(
    "backdrop_worker_jobs_cancelled_total", "Jobs cancelled while running", ["processor"]
)
JOBS_REQUEUED = Counter(
    "backdrop_worker_jobs_requeued_total",
    "Jobs put back on the queue (retry or hand-back on shutdown)",
    ["processor", "reason"],
)
LEASES_LOST = Counter(
    "backdrop_worker_leases_lost_total", "Jobs abandoned because their lease was lost"
)
JOB_SECONDS = Histogram(
    "backdrop_worker_job_seconds",
    "Wall time of a job from claim to final state",
    ["processor", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
QUEUE_WAIT_SECONDS = Histogram(
    "backdrop_worker_queue_wait_seconds",
    "From a job being due (queued, or its retry time) to a worker claiming it",
    ["processor"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
JOBS_RUNNING = Gauge("backdrop_worker_jobs_running", "Jobs running right now")
