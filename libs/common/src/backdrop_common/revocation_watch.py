"""A process-local copy of the revocation marks a token check reads, kept exact by Redis.

Looking the marks up cost every authenticated request a Redis round trip (a quarter of a
task read in the gateway's profile). Here each process remembers what it read, and Redis
tells it the moment any of those keys changes: one connection per process asks for
server-assisted client-side caching in broadcast mode (``CLIENT TRACKING ON BCAST PREFIX
auth:revoked: PREFIX auth:revocations-since``, redirected to itself and subscribed to
``__redis__:invalidate``). Every write to a matching key (a logout, a disabled account,
``auth:revocations-since`` written again) and every FLUSHALL/FLUSHDB sends a message; a look-up
first applies whatever messages are waiting on that socket, so an answer from memory is as
current as a round trip would have been.

Whenever that connection is not known to be healthy (not yet connected, lost, refused by a
Redis or proxy without ``CLIENT TRACKING``), nothing is answered from memory: callers read
Redis as before. A value read while a message may have been in flight is not kept (the
generation counter), and nothing is kept longer than ``max_age_s`` in any case.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from backdrop_common.redis_keys import REVOCATIONS_SINCE, REVOKED_JTI_PREFIX, REVOKED_SID_PREFIX

log = logging.getLogger(__name__)
INVALIDATION_CHANNEL = "__redis__:invalidate"
# What ``CLIENT LIST`` calls this process's watch connection.
WATCH_CLIENT_NAME = f"backdrop-revocation-watch-{os.getpid()}"


class RevocationWatch:
    """Remembered revocation look-ups (key -> value), dropped when Redis says they changed."""

    def __init__(
        self,
        client: redis.Redis,
        max_age_s: float = 10.0,
        retry_s: float = 5.0,
        max_entries: int = 20_000,
    ) -> None:
        self._client = client
        self.max_age_s = max_age_s
        self.retry_s = retry_s
        self.max_entries = max_entries
        self._conn: Any = None
        self._next_attempt = 0.0
        self._lock = threading.Lock()
        # key -> (remembered at, value); value: a mark's existence, or the marker's value.
        self._known: dict[str, tuple[float, Any]] = {}
        self.generation = 0
        """Changes whenever remembered values may have gone stale; a value read from Redis
        is kept only if the generation is the same as before the read."""

    def lookup(self, keys: Sequence[str]) -> list[Any] | None:
        """The remembered values of ``keys`` (all of them), or None: then read Redis."""
        if not self._lock.acquire(blocking=False):
            return None  # someone is (re)connecting or applying messages: do not wait
        try:
            if not self._current():
                return None
            oldest = time.monotonic() - self.max_age_s
            values = []
            for key in keys:
                known = self._known.get(key)
                if known is None or known[0] < oldest:
                    return None
                values.append(known[1])
            return values
        finally:
            self._lock.release()

    def remember(self, generation: int, values: Mapping[str, Any]) -> None:
        """Keep ``values`` read from Redis after ``generation`` was current, unless a change
        may have arrived since (or the watch is not live)."""
        with self._lock:
            if generation != self.generation or self._conn is None:
                return
            if len(self._known) + len(values) > self.max_entries:
                self._known.clear()  # rare: as many live tokens as this; start over
            now = time.monotonic()
            for key, value in values.items():
                self._known[key] = (now, value)

    def close(self) -> None:
        """Drop the connection and everything remembered."""
        with self._lock:
            self._drop()

    def _current(self) -> bool:
        """Connect if due, then apply every waiting message; True when memory may answer."""
        if self._conn is None:
            if time.monotonic() < self._next_attempt:
                return False
            self._connect()
            return self._conn is not None
        try:
            while self._conn.can_read(timeout=0):
                self._apply(self._conn.read_response())
        except (redis.RedisError, OSError, ValueError):
            log.warning("revocation watch lost its Redis connection; reading Redis directly")
            self._drop()
            return False
        return True

    def _connect(self) -> None:
        pool = self._client.connection_pool
        # RESP2: the invalidations arrive as ordinary pub/sub messages (redis-py's RESP3 parser
        # swallows their key lists), so no RESP3-only options either.
        kwargs = {
            **{
                k: v for k, v in pool.connection_kwargs.items() if k != "maint_notifications_config"
            },
            "protocol": 2,
            "health_check_interval": 0,
            "client_name": WATCH_CLIENT_NAME,
        }
        conn = pool.connection_class(**kwargs)
        try:
            conn.connect()
            conn.send_command("CLIENT", "ID")
            client_id = conn.read_response()
            conn.send_command(
                "CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST",
                "PREFIX", REVOKED_JTI_PREFIX, "PREFIX", REVOKED_SID_PREFIX,
                "PREFIX", REVOCATIONS_SINCE,
            )  # fmt: skip
            if conn.read_response() not in ("OK", b"OK"):
                raise redis.ResponseError("CLIENT TRACKING was not accepted")
            conn.send_command("SUBSCRIBE", INVALIDATION_CHANNEL)
            conn.read_response()
        except (redis.RedisError, OSError) as exc:
            conn.disconnect()
            self._next_attempt = time.monotonic() + self.retry_s
            log.warning("revocation watch unavailable (%s); reading Redis directly", exc)
            return
        self._conn = conn
        self._known.clear()
        self.generation += 1

    def _apply(self, message: Any) -> None:
        """One invalidation: the keys that changed, or None when the database was flushed."""
        if not isinstance(message, list) or len(message) != 3 or message[0] not in _MESSAGE:
            return  # the subscription's confirmation, or anything else: nothing changed
        self.generation += 1
        keys = message[2]
        if keys is None:
            self._known.clear()
            return
        for key in keys:
            self._known.pop(key.decode() if isinstance(key, bytes) else key, None)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.disconnect()
        self._conn = None
        self._known.clear()
        self.generation += 1
        self._next_attempt = time.monotonic() + self.retry_s


_MESSAGE = ("message", b"message")
