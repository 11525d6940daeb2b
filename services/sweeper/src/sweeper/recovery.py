"""Putting jobs back on their streams when Redis lost them, without ever doubling one.

PostgreSQL knows every job that should be on a stream (``queued`` tasks, and ``running``
ones whose worker died) and the id of its entry. Redis can lose entries: ``FLUSHALL``, a
restart without persistence, a failover to a replica that lagged. Two signals:

- the epoch marker (``redis_keys.EPOCH_KEY``): written once, gone only when Redis lost its
  data, so its absence makes the sweeper check every such job at once;
- age: a job sent long ago (``stale_after_s``) and still not taken is checked too.

Checking means asking Redis whether the recorded entry still exists. If it does, nothing is
added (a stuck job is never piled onto its stream again and again), only its check time
moves on; if it does not, the job is sent again.
"""

from __future__ import annotations

import logging
import uuid

import redis
from backdrop_common import jobs, taskstore
from backdrop_common.db import Database
from backdrop_common.redis_keys import EPOCH_KEY
from prometheus_client import Counter

log = logging.getLogger(__name__)
RESENT = Counter("backdrop_sweeper_resent_total", "Jobs sent again because Redis lost them")
WIPES = Counter("backdrop_sweeper_redis_wipes_total", "Times Redis was found without its data")


def redis_lost_data(client: redis.Redis) -> bool:
    """True once after Redis lost its data (and on the very first sweep ever).

    The marker is written before anything is re-sent: if Redis loses its data again while
    we re-send, the next sweep finds the marker gone and starts over.
    """
    created = client.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
    if created:
        WIPES.inc()
        log.warning("Redis has no epoch marker (first start, or its data was lost)")
    return bool(created)


def resend_lost(
    db: Database, client: redis.Redis, *, older_than_s: float, max_dispatched: int, limit: int
) -> int:
    """Send again the jobs (checked ``older_than_s`` ago or more) whose entry is gone.

    Only admitted jobs were ever on a stream; held ones wait for their owner's fair share
    (``max_dispatched``) in PostgreSQL, so a Redis wipe never sends them around it.
    """
    rows = taskstore.deliveries_to_check(db, older_than_s=older_than_s, limit=limit)
    if not rows:
        return 0
    present = jobs.entries_present(client, rows)
    lost = [row for row, here in zip(rows, present, strict=True) if not here]
    for row, here in zip(rows, present, strict=True):
        if here:
            taskstore.mark_enqueued(db, row["id"])
    # The group too may be gone; created from id 0 it delivers what we add next.
    for processor in sorted({row["processor"] for row in lost}):
        jobs.ensure_group(client, processor)
    for row in lost:
        jobs.send_job(db, client, row, max_dispatched=max_dispatched)
    RESENT.inc(len(lost))
    if lost:
        log.warning("re-sent %d job(s) whose stream entry was gone", len(lost))
    return len(lost)
