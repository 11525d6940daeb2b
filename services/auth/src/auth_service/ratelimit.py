"""Login throttling in Redis: failures per (identifier, IP), per IP, and per identifier."""

from __future__ import annotations

import hashlib
import math
import time

import redis
from backdrop_common.errors import RateLimited, Unavailable
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from auth_service.settings import AuthSettings

KEY_PREFIX = "auth:ratelimit"


def _identifier_key(identifier: str) -> str:
    # Hashed: bounded length, no separators, and no login names readable in Redis.
    return hashlib.sha256(identifier.strip().lower().encode("utf-8")).hexdigest()[:32]


class LoginLimiter:
    """Counts failed logins in moving windows; any exhausted window blocks the attempt."""

    def __init__(self, settings: AuthSettings) -> None:
        storage = RedisStorage(
            settings.redis_url,
            key_prefix=KEY_PREFIX,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
        )
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        window = settings.login_window_seconds
        self.pair = RateLimitItemPerSecond(
            settings.login_max_failures_per_pair, window, namespace="login-pair"
        )
        self.per_ip = RateLimitItemPerSecond(
            settings.login_max_failures_per_ip, window, namespace="login-ip"
        )
        self.per_identifier = RateLimitItemPerSecond(
            settings.login_max_failures_per_identifier, window, namespace="login-id"
        )

    def _buckets(self, identifier: str, ip: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        ident = _identifier_key(identifier)
        return [
            (self.pair, (ident, ip)),
            (self.per_ip, (ip,)),
            (self.per_identifier, (ident,)),
        ]

    def check(self, identifier: str, ip: str) -> None:
        """Raise ``RateLimited`` (with the wait) if any window for this attempt is full."""
        blocked, wait = False, 0.0
        try:
            for item, ids in self._buckets(identifier, ip):
                if not self.limiter.test(item, *ids):
                    blocked = True
                    reset_at = self.limiter.get_window_stats(item, *ids).reset_time
                    wait = max(wait, reset_at - time.time())
        except redis.RedisError as exc:
            # Fail closed: without counters, brute force would be unlimited.
            raise Unavailable("Login is unavailable right now.") from exc
        if blocked:
            raise RateLimited(
                "Too many failed sign-in attempts; try again later.",
                retry_after=math.ceil(wait),
            )

    def failed(self, identifier: str, ip: str) -> None:
        """Count a failed attempt in every window."""
        try:
            for item, ids in self._buckets(identifier, ip):
                self.limiter.hit(item, *ids)
        except redis.RedisError as exc:
            raise Unavailable("Login is unavailable right now.") from exc

    def succeeded(self, identifier: str, ip: str) -> None:
        """Forget this pair's own typos; the per-IP and per-identifier windows stay."""
        try:
            self.limiter.clear(self.pair, _identifier_key(identifier), ip)
        except redis.RedisError as exc:
            raise Unavailable("Login is unavailable right now.") from exc

    def close(self) -> None:
        """Release the storage's Redis connections."""
        self.storage.storage.close()
