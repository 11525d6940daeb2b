"""``backdrop-worker``: run a worker until SIGTERM/SIGINT.

Every option is also a ``BACKDROP_WORKER_*`` environment variable (read by
:class:`~worker.settings.WorkerSettings`); an option given on the command line wins.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Any

import click
import redis
from backdrop_common.errors import Unavailable
from backdrop_common.logs import configure_logging
from backdrop_common.tracing import init_tracing
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from worker.processors.registry import RegistryError
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)


def build_settings(options: dict[str, Any]) -> WorkerSettings:
    """Settings from the environment, with the options given on the command line on top."""
    overrides = {
        (name if name.startswith("worker_") else f"worker_{name}"): value
        for name, value in options.items()
        if value is not None
    }
    return WorkerSettings(**overrides)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--processors",
    help="Comma-separated processors to serve [env BACKDROP_WORKER_PROCESSORS; default: all]",
)
@click.option("--concurrency", type=int, help="Jobs run at once [BACKDROP_WORKER_CONCURRENCY; 2]")
@click.option("--worker-id", help="Consumer name [BACKDROP_WORKER_ID; <host>-<pid>]")
@click.option(
    "--health-port",
    type=int,
    help="Health/metrics port, 0 = any free [BACKDROP_WORKER_HEALTH_PORT; 9100]",
)
@click.option(
    "--lease",
    "lease_seconds",
    type=float,
    help="Job lease in seconds [BACKDROP_WORKER_LEASE_SECONDS; 30]",
)
@click.option(
    "--lease-renew",
    "lease_renew_seconds",
    type=float,
    help="Lease renewal period [BACKDROP_WORKER_LEASE_RENEW_SECONDS; lease/3]",
)
@click.option(
    "--cancel-deadline",
    "cancel_deadline_seconds",
    type=float,
    help="Grace before a cancelled job is killed [BACKDROP_WORKER_CANCEL_DEADLINE_SECONDS; 5]",
)
@click.option(
    "--shutdown-grace",
    "shutdown_grace_seconds",
    type=float,
    help="Time running jobs get on SIGTERM [BACKDROP_WORKER_SHUTDOWN_GRACE_SECONDS; 20]",
)
def main(**options: Any) -> None:
    """Consume jobs from Redis Streams and run processors until told to stop."""
    try:
        settings = build_settings(options)
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from exc
    configure_logging("worker", settings.log_level)
    init_tracing("worker")

    from worker.service import Worker  # after logging is set up: importing loads processors

    try:
        worker = Worker(settings)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    except redis.RedisError as exc:  # naming the worker needs Redis
        log.error("cannot start: %s: %s", type(exc).__name__, exc)
        sys.exit(1)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; finishing running jobs", signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        worker.start()
    except (Unavailable, redis.RedisError, BotoCoreError, ClientError) as exc:
        # A dependency is down at start-up: say which kind, exit non-zero, let the
        # supervisor (systemd, Kubernetes) restart us.
        log.error("cannot start: %s: %s", type(exc).__name__, exc)
        sys.exit(1)
    worker.run()
    sys.exit(0)
