"""The worker's small HTTP port: ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from backdrop_common.health import Check, run_checks
from backdrop_common.metrics import render_metrics
from flask import Flask, Response, jsonify
from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger(__name__)


def create_health_app(
    checks: Mapping[str, Check], loop_age: Callable[[], float], stall_after: float
) -> Flask:
    """A Flask app with the three endpoints; liveness fails when the main loop stalls."""
    app = Flask("backdrop-worker-health")

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        """Liveness: the consumer loop went round recently."""
        age = loop_age()
        if age > stall_after:
            return jsonify(status="stalled", loop_age_s=round(age, 1)), 503
        return jsonify(status="ok"), 200

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Readiness: Redis, PostgreSQL and storage answer within their timeouts."""
        results = run_checks(checks)
        ready = all(v == "ok" for v in results.values())
        return jsonify(status="ready" if ready else "unavailable", checks=results), (
            200 if ready else 503
        )

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text exposition."""
        payload, content_type = render_metrics()
        return Response(payload, content_type=content_type)

    return app


class HealthServer:
    """Serves the health app from a daemon thread."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.port = int(self.server.server_port)
        # serve_forever notices a shutdown at its next poll: 0.1 s instead of the default
        # 0.5 s keeps a stopping worker from waiting on its own health server.
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.1,), name="health-http", daemon=True
        )

    def start(self) -> None:
        """Start answering."""
        self._thread.start()
        log.info("health endpoints on port %d", self.port)

    def stop(self) -> None:
        """Stop answering and free the port."""
        self.server.shutdown()
        self.server.server_close()


class LoopClock:
    """The consumer loop ticks it; ``/healthz`` reads how long ago that was."""

    def __init__(self) -> None:
        self._at = time.monotonic()

    def tick(self) -> None:
        """The loop is alive."""
        self._at = time.monotonic()

    def age(self) -> float:
        """Seconds since the last tick."""
        return time.monotonic() - self._at
