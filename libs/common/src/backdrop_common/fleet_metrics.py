"""Fleet gauges computed at scrape time: queue depth, lag and wait per processor, tasks by
status, live workers and dead letters.

They describe shared state (Redis streams, the task table), so they are read when Prometheus
scrapes instead of being kept per process; every gateway replica reports the same values
(aggregate with ``max``). A dependency that does not answer leaves its gauges out of that
scrape (and counts in ``backdrop_dependency_errors_total``) rather than failing it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from backdrop_common import fleet, taskstore
from backdrop_common.db import Database
from backdrop_common.errors import Unavailable
from backdrop_common.metrics import DEPENDENCY_ERRORS

log = logging.getLogger("backdrop.fleet_metrics")


class FleetCollector(Collector):
    """Yields the fleet gauges from ``client`` (Redis) and ``db`` (the task table)."""

    def __init__(self, client: redis.Redis, db: Database) -> None:
        self.redis = client
        self.db = db

    def collect(self) -> Iterator[Metric]:
        """One scrape's worth of gauges."""
        yield from self._streams()
        yield from self._tasks()

    def _streams(self) -> Iterator[Metric]:
        try:
            queues = [fleet.queue_stats(self.redis, p) for p in fleet.processors(self.redis)]
            live = fleet.live_workers(self.redis)
        except redis.RedisError as exc:
            DEPENDENCY_ERRORS.labels("redis").inc()
            log.warning("fleet gauges: Redis: %s", type(exc).__name__)
            return
        gauges = {
            "length": GaugeMetricFamily(
                "backdrop_queue_length",
                "Entries on the processor's job stream",
                labels=["processor"],
            ),
            "lag": GaugeMetricFamily(
                "backdrop_queue_lag",
                "Job stream entries not yet delivered to any worker",
                labels=["processor"],
            ),
            "pending": GaugeMetricFamily(
                "backdrop_queue_pending",
                "Job messages delivered to a worker and not yet acknowledged",
                labels=["processor"],
            ),
            "consumers": GaugeMetricFamily(
                "backdrop_queue_consumers", "Consumers in the job group", labels=["processor"]
            ),
        }
        for queue in queues:
            values = {**queue, "consumers": len(queue["consumers"]), "lag": queue["lag"] or 0}
            for key, gauge in gauges.items():
                gauge.add_metric([queue["processor"]], float(values[key]))
        yield from gauges.values()
        yield GaugeMetricFamily(
            "backdrop_workers_live", "Workers whose presence is fresh", value=len(live)
        )

    def _tasks(self) -> Iterator[Metric]:
        try:
            by_status = taskstore.count_by_status(self.db)
            backlog = taskstore.backlog_by_processor(self.db)
            dead = taskstore.count_dead_letters(self.db)
        except Unavailable:  # already counted by the database layer
            return
        tasks = GaugeMetricFamily("backdrop_tasks", "Tasks by status", labels=["status"])
        for status in taskstore.STATUSES:
            tasks.add_metric([status], float(by_status.get(status, 0)))
        yield tasks
        yield GaugeMetricFamily(
            "backdrop_dead_letters",
            "Tasks failed after their last attempt, waiting for an operator",
            value=float(dead),
        )
        wait = GaugeMetricFamily(
            "backdrop_queue_oldest_wait_seconds",
            "How long the oldest job sent to the processor's stream has waited for a worker",
            labels=["processor"],
        )
        held = GaugeMetricFamily(
            "backdrop_queue_held",
            "Queued tasks kept off the stream by their owner's fair share",
            labels=["processor"],
        )
        now = datetime.now(UTC)
        for processor, row in backlog.items():
            since = row["oldest_queued_at"]
            wait.add_metric([processor], (now - since).total_seconds() if since else 0.0)
            held.add_metric([processor], float(row["held"]))
        yield wait
        yield held
