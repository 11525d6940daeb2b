"""Prometheus metrics that stay correct under gunicorn with several worker processes.

When ``PROMETHEUS_MULTIPROC_DIR`` is set (the gunicorn config sets it), every process writes
its samples to that directory and ``/metrics`` aggregates them; otherwise the default
in-process registry is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

HTTP_REQUESTS = Counter(
    "backdrop_http_requests_total",
    "HTTP requests handled",
    ["service", "method", "endpoint", "status"],
)
HTTP_LATENCY = Histogram(
    "backdrop_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# Failures talking to a dependency (label ``dependency``: postgres, redis or s3), counted
# where the code turns them into 503s or retries: the signal behind "PostgreSQL is flapping".
DEPENDENCY_ERRORS = Counter(
    "backdrop_dependency_errors_total",
    "Failed calls to a dependency (connection refused, timeout, 5xx)",
    ["dependency"],
)


def render_metrics(collectors: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """Return the exposition text and its content type, aggregated across processes.

    ``collectors`` add samples computed at scrape time (e.g. queue depth read from Redis),
    which are the same in every process and so are not stored per process.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    if not collectors:
        return generate_latest(registry), CONTENT_TYPE_LATEST
    scrape = CollectorRegistry()
    for collector in (registry, *collectors):
        scrape.register(collector)
    return generate_latest(scrape), CONTENT_TYPE_LATEST
