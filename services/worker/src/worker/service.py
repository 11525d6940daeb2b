"""The worker process: wiring, the consumer loop, and graceful shutdown.

Threads of the worker (the main thread runs :meth:`Worker.run`):

* consumer loop: reclaims abandoned messages, reads new ones for free slots, starts a
  :class:`~worker.supervisor.JobSupervisor` thread per message;
* one supervisor thread per running job (``worker.supervisor``), each watching the
  work-horse process that runs the processor (``worker.horse``);
* cancel listener (pub/sub), presence beacon, health HTTP server.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from backdrop_common import catalogue, taskstore
from backdrop_common.db import Database
from backdrop_common.health import Check, readiness_checks
from backdrop_common.redis_client import redis_from_url
from backdrop_common.redis_keys import worker_key
from backdrop_common.storage import Storage

from worker.cancellation import CancelListener
from worker.consumer import StreamConsumer
from worker.health import HealthServer, LoopClock, create_health_app
from worker.horse_handle import HorsePool, start_forkserver
from worker.presence import Presence, claim_stable_name
from worker.processors.registry import load_processors
from worker.runtime import Runtime
from worker.settings import WorkerSettings
from worker.supervisor import JobSupervisor

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 60.0  # also how long a dead worker's idle consumer is left alone


class JobsUnreadable(Exception):
    """The consumer loop's last read of the job streams failed."""


class Worker:
    """One worker process serving some processors with a fixed number of job slots."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.hurry = threading.Event()  # second SIGTERM/SIGINT: hand back without waiting
        self.clock = LoopClock()
        self._supervisors: list[JobSupervisor] = []
        self._slot_freed = threading.Event()
        processors = load_processors(settings.processor_names)
        db = Database(
            settings.database_url,
            maxconn=settings.worker_concurrency + 4,
            keep_idle=settings.db_pool_idle,
        )
        client = redis_from_url(settings.redis_url, socket_timeout=10.0)
        self.worker_id = settings.worker_id or claim_stable_name(client)
        consumer = StreamConsumer(
            client,
            processors,
            self.worker_id,
            block_ms=settings.worker_block_ms,
            reclaim_idle_ms=int(settings.reclaim_idle_seconds * 1000),
        )
        horses = HorsePool(settings, settings.worker_concurrency)
        self.rt = Runtime(
            settings, db, client, Storage(settings), consumer, processors, self.worker_id, horses
        )
        self._next_prune = 0.0
        self._jobs_unreadable: str | None = "not started"  # why reading jobs fails, if it does
        self.rt.on_change = self._job_changed
        self.catalogue = catalogue.entries(processors.values())
        self.presence = Presence(
            client,
            self.worker_id,
            sorted(processors),
            settings.worker_concurrency,
            self.rt.running.task_ids,
            health_port=lambda: self.health.port if self.health else None,
            also=lambda: catalogue.publish(client, self.catalogue),
        )
        self.cancels = CancelListener(settings.redis_url, self._on_cancel, self.stopping)
        self.health: HealthServer | None = None

    # -- start-up ------------------------------------------------------------------------
    def start(self) -> None:
        """Prepare everything; after this the worker is visible and ready to consume."""
        if self.settings.migrate_on_start:
            taskstore.migrate_tasks(self.rt.db)
        start_forkserver(sorted(self.rt.processors))  # imports them once, before any job
        self.rt.horses.fill()
        self.rt.consumer.ensure_groups()
        self._jobs_unreadable = None
        catalogue.publish(self.rt.redis, self.catalogue)
        checks: dict[str, Check] = {
            **readiness_checks(redis=self.rt.redis, postgres=self.rt.db, storage=self.rt.storage),
            "jobs": self._check_jobs_readable,
        }
        app = create_health_app(checks, self.clock.age, stall_after=30.0)
        self.health = HealthServer(
            app, self.settings.worker_health_host, self.settings.worker_health_port
        )
        self.health.start()
        self.cancels.start()
        self.cancels.subscribed.wait(5.0)
        self.presence.start()
        log.info(
            "worker %s serving %s with %d slot(s), health port %d",
            self.worker_id,
            ", ".join(sorted(self.rt.processors)),
            self.settings.worker_concurrency,
            self.health.port,
        )

    def _check_jobs_readable(self) -> None:
        """Not ready while the consumer loop cannot read its streams (e.g. no group)."""
        if self._jobs_unreadable is not None:
            raise JobsUnreadable(self._jobs_unreadable)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        """Consume until :meth:`stop`, then shut down gracefully."""
        # Reclaim often: takeover of a dead worker's job is idle time + at most this.
        reclaim_every = min(1.0, self.settings.worker_lease_seconds / 4)
        next_reclaim = 0.0
        while not self.stopping.is_set():
            self.clock.tick()
            self._reap()
            free = self.settings.worker_concurrency - len(self._supervisors)
            if free <= 0:
                self._slot_freed.wait(0.5)
                self._slot_freed.clear()
                continue
            try:
                deliveries = []
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + reclaim_every
                    deliveries = self.rt.consumer.reclaim(free)
                    self._prune_consumers()
                if not deliveries and not self.stopping.is_set():
                    deliveries = self.rt.consumer.read(free)
                self._jobs_unreadable = None
            except redis.RedisError as exc:
                self._read_failed(exc)
                continue
            for delivery in deliveries:
                supervisor = JobSupervisor(self.rt, delivery)
                self._supervisors.append(supervisor)
                supervisor.start()
        self.shutdown()

    def _prune_consumers(self) -> None:
        """Now and then, drop the group's consumers of workers that are gone."""
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY_S
        self.rt.consumer.prune(
            lambda name: bool(self.rt.redis.exists(worker_key(name))), int(PRUNE_EVERY_S * 1000)
        )

    def _read_failed(self, exc: redis.RedisError) -> None:
        """Reading jobs failed: not ready until it works again; recreate a lost group."""
        self._jobs_unreadable = type(exc).__name__
        if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
            # Redis lost our streams (FLUSHALL, a restart without persistence): the group
            # is made again from id 0, so whatever the relay re-sends is delivered.
            log.warning("job stream or group missing; recreating them")
            try:
                self.rt.consumer.ensure_groups()
                return
            except redis.RedisError as again:
                self._jobs_unreadable = type(again).__name__
        log.warning("reading jobs failed (%s); retrying", self._jobs_unreadable)
        # Not ``self.stopping.wait(1.0)``: the SIGTERM handler sets that event on this very
        # thread, and would wait forever for the event's lock if the signal came in the
        # moment ``wait`` holds it.
        deadline = time.monotonic() + 1.0
        while not self.stopping.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop taking new jobs (signal handlers call this); a second call skips the grace."""
        if self.stopping.is_set():
            self.hurry.set()
        self.stopping.set()

    def _reap(self) -> None:
        self._supervisors = [r for r in self._supervisors if not r.done.is_set()]

    def _job_changed(self) -> None:
        self._slot_freed.set()
        self.presence.poke()

    def _on_cancel(self, task_id: str) -> None:
        supervisor = self.rt.running.get(task_id)
        if supervisor is not None:
            log.info("cancel requested for %s", task_id)
            supervisor.request_cancel()

    # -- shutdown ------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Let running jobs finish within the grace period, hand back the rest, clean up."""
        grace = self.settings.worker_shutdown_grace_seconds
        deadline = time.monotonic() + grace
        self._reap()
        if self._supervisors:
            log.info("waiting up to %.0f s for %d running job(s)", grace, len(self._supervisors))
        while self._supervisors and time.monotonic() < deadline and not self.hurry.is_set():
            self._slot_freed.wait(0.1)
            self._slot_freed.clear()
            self._reap()
        for supervisor in self._supervisors:
            log.info("handing back %s", supervisor.delivery.task_id)
            supervisor.hand_back()
        for supervisor in self._supervisors:
            supervisor.join(30.0)
        self.rt.horses.close()
        self.rt.consumer.leave()
        self.presence.stop()
        if self.health is not None:
            self.health.stop()
        self.cancels.join(2.0)
        self.rt.db.close()
        self.rt.redis.close()
        log.info("worker %s stopped", self.worker_id)
