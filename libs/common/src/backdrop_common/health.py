"""``/healthz`` (alive), ``/readyz`` (dependencies answer) and ``/metrics`` for a service."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from flask import Blueprint, Response, jsonify
from prometheus_client.registry import Collector

from backdrop_common.metrics import render_metrics

Check = Callable[[], object]
"""A readiness check: it passes unless it raises (or overruns its timeout)."""
CHECK_TIMEOUT = 2.0
log = logging.getLogger("backdrop.health")


class Pingable(Protocol):
    """A dependency that can say it is up (``Database``, ``redis.Redis``, ``Storage``)."""

    def ping(self) -> object:
        """Raise when the dependency cannot be reached."""
        ...


def readiness_checks(**dependencies: Pingable) -> dict[str, Check]:
    """``/readyz`` checks pinging each dependency under its name, for example
    ``readiness_checks(postgres=db, redis=client, s3=storage)``."""
    return {name: dependency.ping for name, dependency in dependencies.items()}


def run_checks(checks: Mapping[str, Check], timeout: float = CHECK_TIMEOUT) -> dict[str, str]:
    """Run each check concurrently; a check that raises or overruns ``timeout`` fails."""
    results: dict[str, str] = {}
    if not checks:
        return results
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(checks))
    try:
        futures = {name: pool.submit(fn) for name, fn in checks.items()}
        for name, future in futures.items():
            try:
                future.result(timeout=timeout)
                results[name] = "ok"
            except concurrent.futures.TimeoutError:
                results[name] = "timeout"
            except Exception as exc:
                # The exception class is enough to act on; its text may name hosts.
                results[name] = f"error: {type(exc).__name__}"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def health_blueprint(
    checks: Mapping[str, Check],
    details: Callable[[], bool] | None = None,
    *,
    metrics_guard: Callable[[], None] | None = None,
    collectors: Iterable[Collector] = (),
) -> Blueprint:
    """A blueprint serving the three health endpoints with ``checks`` behind ``/readyz``.

    ``details`` decides per request whether ``/readyz`` names each check and its failure;
    a public service (the gateway) shows them to operators only, the rest of the world
    learns ready or not (which dependency is down tells an attacker where to push).
    ``metrics_guard`` runs before ``/metrics`` answers (it raises to refuse: a public
    service keeps its metrics from the world); ``collectors`` add scrape-time samples.
    """
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Response:
        """Liveness: the process answers."""
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Readiness: every dependency answered within its timeout."""
        results = run_checks(checks)
        ready = all(v == "ok" for v in results.values())
        status = "ready" if ready else "unavailable"
        if not ready:
            log.warning("not ready: %s", results)
        if details is not None and not details():
            return jsonify(status=status), 200 if ready else 503
        return jsonify(status=status, checks=results), 200 if ready else 503

    @bp.get("/metrics")
    def metrics() -> Response:
        """Prometheus text exposition."""
        if metrics_guard is not None:
            metrics_guard()
        payload, content_type = render_metrics(collectors)
        return Response(payload, content_type=content_type)

    # The guard's role, for the route tables that check who may call what.
    metrics.required_role = getattr(metrics_guard, "required_role", None)  # type: ignore[attr-defined]

    return bp
