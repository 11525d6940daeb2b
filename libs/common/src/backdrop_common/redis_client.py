"""Redis connections with short timeouts, so a dead Redis fails fast instead of hanging."""

from __future__ import annotations

import redis


def redis_from_url(url: str, *, socket_timeout: float | None = 5.0) -> redis.Redis:
    """A decoded-responses Redis client for ``url``.

    ``socket_timeout=None`` suits clients that block on XREAD/pub-sub for longer.
    """
    client: redis.Redis = redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=socket_timeout,
        health_check_interval=30,
        retry_on_timeout=False,
    )
    return client
