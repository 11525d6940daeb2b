"""Prometheus metrics of the upload service (served at its ``/metrics``)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

UPLOAD_BYTES = Counter(
    "backdrop_upload_bytes_total",
    "Bytes of uploads verified and queued, by how they arrived",
    ["method"],
)
UPLOAD_SECONDS = Histogram(
    "backdrop_upload_seconds",
    "From task creation to its upload verified and queued, by how it arrived",
    ["method"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)


def observe_upload(method: str, size: int, created_at: datetime) -> None:
    """Count one verified upload of ``size`` bytes (``method``: streamed, presigned, multipart)."""
    UPLOAD_BYTES.labels(method).inc(size)
    UPLOAD_SECONDS.labels(method).observe((datetime.now(UTC) - created_at).total_seconds())
