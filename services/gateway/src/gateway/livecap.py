"""Caps on live streams (SSE today, WebSocket next): per user, per client address, per process.

A live stream holds a connection, a greenlet and a Redis connection for minutes; without a
cap one account opened 2,100 of them and took the gateway offline for everyone. Every route
that holds a client open takes a :class:`Lease` first and releases it when the connection
ends::

    lease = live_streams().acquire(principal.user_id, client_address())   # or 429 / 503
    response.call_on_close(lease.release)                                  # and lease.renew()

Per-user and per-address counts live in Redis (so they hold across gunicorn workers and
gateway replicas) as sorted sets of lease ids scored by expiry: a process that dies without
releasing leaves entries that expire after ``live_lease_s``, which open streams renew. The
per-process cap (``sse_max_streams``) is a local semaphore.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import redis
from backdrop_common.errors import RateLimited, Unavailable
from backdrop_common.redis_keys import LIVE_PREFIX
from flask import current_app, request

from gateway.settings import GatewaySettings

# KEYS: the user's and the address's sets; ARGV: now, expiry, lease id, user cap, address cap.
# Returns 0 when taken, 1 when the user is at the cap, 2 when the address is.
_ACQUIRE = """
for i = 1, 2 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1]) end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[i], math.ceil(ARGV[2] - ARGV[1]) + 1)
end
return 0
"""


def client_address() -> str:
    """The client's address: the peer, or the nearest X-Forwarded-For entry when a trusted
    proxy sits in front (``trust_forwarded_for``); never a value the client chose alone."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if live_streams().settings.trust_forwarded_for and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()[:64]
    return request.remote_addr or "unknown"


@dataclass
class Lease:
    """One live stream's place under the caps; release it exactly when the stream ends."""

    cap: LiveStreamCap
    keys: tuple[str, str]
    lease_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    renewed_at: float = field(default_factory=time.monotonic)
    released: bool = False

    def renew(self) -> None:
        """Push the expiry out (cheap to call often: it writes at most every third lease)."""
        lease_s = self.cap.settings.live_lease_s
        if self.released or time.monotonic() - self.renewed_at < lease_s / 3:
            return
        self.renewed_at = time.monotonic()
        expiry = time.time() + lease_s
        try:
            with self.cap.redis.pipeline(transaction=False) as pipe:
                for key in self.keys:
                    pipe.zadd(key, {self.lease_id: expiry}, xx=True)
                    pipe.expire(key, int(lease_s) + 1)
                pipe.execute()
        except redis.RedisError:
            pass  # the entry expires on its own; the stream itself reads Redis and will notice

    def release(self) -> None:
        """Give the place back (idempotent: the generator and the response both call it)."""
        if self.released:
            return
        self.released = True
        self.cap.local.release()
        try:
            with self.cap.redis.pipeline(transaction=False) as pipe:
                for key in self.keys:
                    pipe.zrem(key, self.lease_id)
                pipe.execute()
        except redis.RedisError:
            pass  # expires after live_lease_s


class LiveStreamCap:
    """Hands out leases while the user, the address and this process are under their caps."""

    def __init__(self, client: redis.Redis, settings: GatewaySettings) -> None:
        self.redis = client
        self.settings = settings
        # threading's, not backdrop_common.green's: it is only ever tried without waiting, so
        # gevent's saves nothing here, and with it the terminal event reached 1,000 watchers
        # at p99 184-276 ms instead of 56-74 ms (make bench --only sse, 7 runs against 4).
        self.local = threading.BoundedSemaphore(settings.sse_max_streams)
        self._acquire = client.register_script(_ACQUIRE)

    def acquire(self, user_id: uuid.UUID | str, address: str) -> Lease:
        """A lease, or 429 ``rate_limited`` (user or address at its cap) / 503 (this process
        is full), both with ``Retry-After``."""
        s = self.settings
        if not self.local.acquire(blocking=False):
            raise Unavailable(
                "This server holds as many live streams as it can; retry shortly.",
                retry_after=s.live_retry_after_s,
            )
        lease = Lease(self, (f"{LIVE_PREFIX}user:{user_id}", f"{LIVE_PREFIX}addr:{address}"))
        now = time.time()
        try:
            verdict = self._acquire(
                keys=list(lease.keys),
                args=[
                    now,
                    now + s.live_lease_s,
                    lease.lease_id,
                    s.live_streams_per_user,
                    s.live_streams_per_address,
                ],
            )
        except redis.RedisError as exc:
            self.local.release()
            raise Unavailable("Live streams are unavailable right now.") from exc
        if verdict:
            self.local.release()
            who = "your account" if verdict == 1 else "your address"
            cap = s.live_streams_per_user if verdict == 1 else s.live_streams_per_address
            raise RateLimited(
                f"{who.capitalize()} already holds {cap} live streams; close one first.",
                retry_after=s.live_retry_after_s,
            )
        return lease


def live_streams() -> LiveStreamCap:
    """The cap of the current app (built in ``create_app``)."""
    cap: LiveStreamCap = current_app.extensions["live_streams"]
    return cap
