"""Redis connections with short timeouts, so a dead Redis fails fast instead of hanging."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from redis.driver_info import DriverInfo

from backdrop_common.errors import Unavailable
from backdrop_common.metrics import DEPENDENCY_ERRORS


def redis_from_url(
    url: str, *, socket_timeout: float | None = 5.0, max_connections: int = 100
) -> redis.Redis:
    """A decoded-responses Redis client for ``url`` whose pool waits for a free connection.

    redis-py's default pool raises "Too many connections" once ``max_connections`` are in
    use; under gevent a burst of requests (or hundreds of open event streams) reaches that,
    so callers wait up to 5 s for a connection instead. ``socket_timeout=None`` suits
    clients that block on XREAD/pub-sub for longer.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=socket_timeout,
        health_check_interval=30,
        # redis-py names itself to the server on every new connection and otherwise looks
        # its own version up in the package metadata each time: half of a connection's CPU,
        # paid a thousand times when a thousand live streams connect.
        driver_info=DriverInfo(lib_version=redis.__version__),
    )
    return redis.Redis(connection_pool=pool)


@contextlib.contextmanager
def unavailable_on_error(what: str = "Redis") -> Iterator[None]:
    """Turn a Redis failure inside the block into ``Unavailable`` (503 problem+json)."""
    try:
        yield
    except redis.RedisError as exc:
        DEPENDENCY_ERRORS.labels("redis").inc()
        raise Unavailable(f"{what} is not reachable right now.") from exc
