"""Dramatiq baseline: ``dramatiq dramatiq_job --processes 1 --threads 8``.

Redis broker (``BENCH_BROKER``). Dramatiq keeps no results by default, so the actor pushes
its outcome to the list ``jobs.DRAMATIQ_DONE`` (one RPUSH: the bench counts and times them).
"""

from __future__ import annotations

import json
import os

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from jobs import DRAMATIQ_DONE
from jobs import checksum as run_checksum

dramatiq.set_broker(RedisBroker(url=os.environ["BENCH_BROKER"]))
_done = redis.Redis.from_url(os.environ["BENCH_BROKER"])


@dramatiq.actor(queue_name="bench", max_retries=0)
def checksum(key: str | None = None, data: str | None = None) -> None:
    """The shared checksum job, its outcome pushed to ``DRAMATIQ_DONE``."""
    _done.rpush(DRAMATIQ_DONE, json.dumps(run_checksum(key, data)))
