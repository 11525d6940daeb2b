"""The sweeper process: its resources, its health server and the sweep loop.

Run: ``backdrop-sweeper`` (console script). One sweeper is enough; more are safe, since a
transaction-level advisory lock lets one sweep run at a time.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from backdrop_common import taskstore
from backdrop_common.health import health_blueprint
from backdrop_common.logs import configure_logging
from backdrop_common.tracing import init_tracing
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from sweeper.resources import init_app, resources
from sweeper.settings import SweeperSettings
from sweeper.sweep import sweep_once
from sweeper.webhooks import dispatch_forever

log = logging.getLogger(__name__)


def create_app(settings: SweeperSettings) -> Flask:
    """The sweeper's health app (/healthz, /readyz, /metrics), holding its resources."""
    app = Flask("sweeper")
    res = init_app(app, settings)
    app.register_blueprint(health_blueprint(res.checks()))
    return app


def serve_health(app: Flask, settings: SweeperSettings) -> BaseWSGIServer:
    """Serve ``app`` (/healthz, /readyz, /metrics) on the sweeper's health port (daemon thread)."""
    server = make_server(settings.sweeper_health_host, settings.sweeper_health_port, app)
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    return server


def run(settings: SweeperSettings, stop: threading.Event) -> None:
    """Sweep every ``sweep_interval_s`` until ``stop`` is set."""
    app = create_app(settings)
    with app.app_context():
        res = resources()
    if settings.migrate_on_start:
        taskstore.migrate_tasks(res.db)
    server = serve_health(app, settings) if settings.sweeper_health_port else None
    recovering_until = 0.0
    # Webhooks have their own loop: a slow receiver must not delay the lifecycle's timers.
    dispatcher = threading.Thread(
        target=dispatch_forever, args=(settings, res.db, stop), name="webhooks"
    )
    dispatcher.start()
    log.info("sweeper started (every %.1f s)", settings.sweep_interval_s)
    while not stop.is_set():
        recovering = time.monotonic() < recovering_until
        stale = 0.0 if recovering else (settings.stale_after_s or None)
        try:
            report = sweep_once(
                res.db, res.redis, res.storage,
                relay_after_s=settings.relay_after_s, stale_after_s=stale,
                max_dispatched=settings.max_dispatched_per_user,
                input_grace_s=settings.input_grace_s,
            )  # fmt: skip
            if report.redis_lost_data:
                recovering_until = time.monotonic() + settings.recovery_window_s
        except Exception:  # a dependency is down: log, wait, try again
            log.exception("sweep failed")
        stop.wait(settings.sweep_interval_s)
    dispatcher.join()
    if server is not None:
        server.shutdown()
    res.close()


def main() -> None:
    """Console entry point ``backdrop-sweeper``."""
    settings = SweeperSettings()
    configure_logging("sweeper", settings.log_level)
    init_tracing("sweeper")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(settings, stop)


if __name__ == "__main__":
    main()
