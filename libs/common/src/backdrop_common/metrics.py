"""Prometheus metrics that stay correct under gunicorn with several worker processes.

When ``PROMETHEUS_MULTIPROC_DIR`` is set (the gunicorn config sets it), every process writes
its samples to that directory and ``/metrics`` aggregates them; otherwise the default
in-process registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

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


def render_metrics() -> tuple[bytes, str]:
    """Return the exposition text and its content type, aggregated across processes."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
