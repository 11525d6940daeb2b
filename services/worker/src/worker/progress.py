"""Publishing a running job's progress: live to Redis (≤ 10/s, the first after 0.1 s), to
PostgreSQL every ~3 s.

Clients watch the per-task event stream and the progress hash, so those get every
(throttled) update; the database copy is only the fallback after Redis loses it, so it is
written rarely and once more before each state change (``flush``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis
from backdrop_common import events, taskstore
from backdrop_common.db import Database
from backdrop_common.errors import Unavailable
from backdrop_common.timestamps import rfc3339

from worker.protocol import Progress

log = logging.getLogger(__name__)


class ProgressPublisher:
    """Throttles and fans out one task's progress reports."""

    def __init__(
        self,
        client: redis.Redis,
        db: Database,
        row: dict[str, Any],
        worker_id: str,
        *,
        publish_every: float = 0.1,
        persist_every: float = 3.0,
    ) -> None:
        self.redis = client
        self.db = db
        self.row = row
        self.worker_id = worker_id
        self.publish_every = publish_every
        self.persist_every = persist_every
        self._latest: Progress | None = None
        # Both clocks start with the job: a job that ends within ``publish_every`` sends no
        # progress at all (its final status event carries the outcome), which spared a short
        # job two Redis round trips and a Task document for a report nobody could watch.
        self._published_at = self._persisted_at = time.monotonic()
        self._unpublished = False
        self._unpersisted = False

    def update(self, progress: Progress) -> None:
        """Take a report from the child; publishes it unless the last one was too recent."""
        self._latest = progress
        self._unpublished = self._unpersisted = True
        now = time.monotonic()
        if now - self._published_at >= self.publish_every:
            self._publish(progress, now)
        if now - self._persisted_at >= self.persist_every:
            self._persist(progress, now)

    def tick(self) -> None:
        """Called periodically: publish a report the throttle held back, once it is due."""
        now = time.monotonic()
        if self._latest and self._unpublished and now - self._published_at >= self.publish_every:
            self._publish(self._latest, now)
        if self._latest and self._unpersisted and now - self._persisted_at >= self.persist_every:
            self._persist(self._latest, now)

    def flush(self) -> None:
        """Persist the latest report before a state change (the row then tells the truth)."""
        if self._latest and self._unpersisted:
            self._persist(self._latest, time.monotonic())

    def _publish(self, progress: Progress, now: float) -> None:
        self._published_at = now
        self._unpublished = False
        doc = {
            "fraction": progress.fraction,
            "stage": progress.stage,
            "message": progress.message,
            "updated_at": rfc3339(datetime.now(UTC)),
        }
        try:
            events.set_progress(
                self.redis, self.row["id"], progress.fraction, progress.stage, progress.message
            )
            events.append_event(
                self.redis,
                self.row["id"],
                "progress",
                taskstore.task_json(self.row, doc),
                owner_id=self.row["owner_id"],
            )
        except redis.RedisError as exc:
            # Progress is advisory; a Redis hiccup must not fail the job.
            log.warning("could not publish progress: %s", type(exc).__name__)

    def _persist(self, progress: Progress, now: float) -> None:
        self._persisted_at = now
        self._unpersisted = False
        try:
            taskstore.save_progress(
                self.db,
                self.row["id"],
                self.worker_id,
                progress.fraction,
                progress.stage,
                progress.message,
            )
        except Unavailable:
            log.warning("could not persist progress: database unavailable")
