"""The sweeper process: its clients, its health server and the sweep loop.

Run: ``backdrop-sweeper`` (console script). One sweeper is enough; more are safe, since a
transaction-level advisory lock lets one sweep run at a time.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from backdrop_common import taskstore
from backdrop_common.db import Database
from backdrop_common.health import Check, health_blueprint
from backdrop_common.logs import configure_logging
from backdrop_common.redis_client import redis_from_url
from backdrop_common.storage import Storage
from flask import Flask
from werkzeug.serving import make_server

from sweeper.settings import SweeperSettings
from sweeper.sweep import sweep_once
from sweeper.webhooks import dispatch_forever

log = logging.getLogger(__name__)


@dataclass
class Clients:
    """The sweeper's database, Redis and storage clients."""

    db: Database
    redis: redis.Redis
    storage: Storage

    @classmethod
    def from_settings(cls, settings: SweeperSettings) -> Clients:
        """Clients for ``settings`` (connections are opened lazily)."""
        return cls(
            db=Database.from_settings(settings),
            redis=redis_from_url(settings.redis_url),
            storage=Storage(settings),
        )

    def checks(self) -> dict[str, Check]:
        """The dependencies ``/readyz`` checks."""

        def redis_ping() -> None:
            self.redis.ping()

        return {"postgres": self.db.ping, "redis": redis_ping, "s3": self.storage.ping}

    def close(self) -> None:
        """Release pooled connections."""
        self.db.close()
        self.redis.close()


def serve_health(settings: SweeperSettings, clients: Clients) -> Any:
    """Serve /healthz, /readyz, /metrics on the sweeper's health port (daemon thread)."""
    app = Flask("sweeper")
    app.register_blueprint(health_blueprint(clients.checks()))
    server = make_server(settings.sweeper_health_host, settings.sweeper_health_port, app)
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    return server


def run(settings: SweeperSettings, stop: threading.Event) -> None:
    """Sweep every ``sweep_interval_s`` until ``stop`` is set."""
    clients = Clients.from_settings(settings)
    if settings.migrate_on_start:
        taskstore.migrate_tasks(clients.db)
    server = serve_health(settings, clients) if settings.sweeper_health_port else None
    recovering_until = 0.0
    # Webhooks have their own loop: a slow receiver must not delay the lifecycle's timers.
    dispatcher = threading.Thread(
        target=dispatch_forever, args=(settings, clients.db, stop), name="webhooks"
    )
    dispatcher.start()
    log.info("sweeper started (every %.1f s)", settings.sweep_interval_s)
    while not stop.is_set():
        recovering = time.monotonic() < recovering_until
        stale = 0.0 if recovering else (settings.stale_after_s or None)
        try:
            report = sweep_once(
                clients.db, clients.redis, clients.storage,
                relay_after_s=settings.relay_after_s, stale_after_s=stale,
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
    clients.close()


def main() -> None:
    """Console entry point ``backdrop-sweeper``."""
    settings = SweeperSettings()
    configure_logging("sweeper", settings.log_level)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(settings, stop)


if __name__ == "__main__":
    main()
