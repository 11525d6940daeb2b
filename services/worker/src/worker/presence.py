"""Worker side: the worker's presence in Redis, hash ``backdrop:workers:<worker_id>``, TTL 30 s.

(Not to be confused with lease renewal, which keeps one *task* ours: ``worker.supervisor``.)

Refreshed every 5 s, and soon (within ``POKE_GAP_S``) when a job starts or ends, so the admin
page sees who is alive and what each worker runs; a worker that dies simply ages out.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from backdrop_common.redis_keys import worker_key
from backdrop_common.timestamps import rfc3339

log = logging.getLogger(__name__)

TTL_S = 30
INTERVAL_S = 5.0
# Job starts and ends within this gap share one refresh: a worker draining hundreds of
# small jobs a second wrote its hash (and the catalogue) twice per job before.
POKE_GAP_S = 0.25


def _now() -> str | None:
    return rfc3339(datetime.now(UTC))


def claim_stable_name(client: redis.Redis, host: str | None = None) -> str:
    """``<host>-<n>`` with the lowest ``n`` no live worker uses (``BACKDROP_WORKER_ID`` unset).

    The name survives restarts (a container keeps its host name), so a restarted worker
    reuses its consumer instead of leaving a dead one in the group each time. A name is
    taken by creating its presence hash (``HSETNX``, expiring with the presence TTL): the
    hash of a killed worker expires within ``TTL_S``, and a clean exit deletes it.
    """
    host = host or socket.gethostname()
    for n in range(10_000):
        name = f"{host}-{n}"
        pipe = client.pipeline(transaction=True)
        pipe.hsetnx(worker_key(name), "pid", os.getpid())
        pipe.expire(worker_key(name), TTL_S, nx=True)
        if pipe.execute()[0]:
            return name
    raise RuntimeError(f"no free worker name on {host}")


class Presence(threading.Thread):
    """Keeps this worker's hash fresh until stopped, then deletes it."""

    def __init__(
        self,
        client: redis.Redis,
        worker_id: str,
        processors: list[str],
        concurrency: int,
        current_jobs: Callable[[], list[str]],
        *,
        health_port: Callable[[], int | None] = lambda: None,
        also: Callable[[], None] = lambda: None,
        interval: float = INTERVAL_S,
        poke_gap: float = POKE_GAP_S,
    ) -> None:
        super().__init__(name="presence", daemon=True)
        self.redis = client
        self.key = worker_key(worker_id)
        self.worker_id = worker_id
        self.processors = processors
        self.concurrency = concurrency
        self.current_jobs = current_jobs
        self.health_port = health_port
        self.also = also  # more to refresh on the same beat (the processor catalogue)
        self.interval = interval
        self.poke_gap = poke_gap
        self._also_due = 0.0  # monotonic time of the next ``also`` (on the beat, not on pokes)
        self.started_at = _now()
        self._stopping = threading.Event()
        self._poke = threading.Event()

    def beat(self) -> None:
        """Write the hash and push its expiry out."""
        fields = {
            "worker_id": self.worker_id,
            "processors": json.dumps(self.processors),
            "concurrency": self.concurrency,
            "jobs": json.dumps(self.current_jobs()),
            "started_at": self.started_at,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "health_port": self.health_port() or "",
            "last_seen": _now(),
        }
        pipe = self.redis.pipeline()
        pipe.hset(self.key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(self.key, TTL_S)
        pipe.execute()
        if time.monotonic() >= self._also_due:
            self._also_due = time.monotonic() + self.interval
            self.also()

    def poke(self) -> None:
        """Refresh soon (a job started or finished)."""
        self._poke.set()

    def run(self) -> None:
        """Beat every ``interval`` seconds, or when poked, until stopped."""
        while not self._stopping.is_set():
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("presence refresh failed: %s", type(exc).__name__)
            self._poke.wait(self.interval)
            self._poke.clear()
            self._stopping.wait(self.poke_gap)

    def stop(self) -> None:
        """Stop beating and remove the hash (a clean exit is not a dead worker)."""
        self._stopping.set()
        self._poke.set()
        self.join(5)
        try:
            self.redis.delete(self.key)
        except redis.RedisError:
            log.warning("could not delete %s; it expires within %d s", self.key, TTL_S)
