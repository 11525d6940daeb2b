"""The gateway's shared resources (database, Redis, storage, HTTP session), bound per app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from backdrop_common.db import Database
from flask import Flask, current_app
from redis import BlockingConnectionPool, Redis
from requests.adapters import HTTPAdapter

from gateway.settings import GatewaySettings


@dataclass
class Resources:
    """What views need; built once in ``create_app`` and kept in ``app.extensions``."""

    settings: GatewaySettings
    db: Database
    redis: Redis
    stream_redis: Redis
    http: requests.Session
    _storage: Any = field(default=None, repr=False)

    @property
    def storage(self) -> Any:
        """The object store, created on first use (boto3 clients are slow to build)."""
        if self._storage is None:
            from backdrop_common.storage import Storage

            self._storage = Storage(self.settings)
        return self._storage


def _session() -> requests.Session:
    session = requests.Session()
    # Under gevent many requests run at once; a larger pool keeps upstream connections
    # reused instead of opened and discarded per request.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # Never pick up proxies from the environment for internal calls.
    session.trust_env = False
    return session


def _redis(url: str, max_connections: int, socket_timeout: float) -> Redis:
    """A Redis client whose pool waits for a free connection instead of failing.

    redis-py's default pool raises "Too many connections" past 100; under gevent a burst
    of requests (or hundreds of open event streams) easily exceeds that.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


def init_app(app: Flask, settings: GatewaySettings) -> Resources:
    """Create the resources for ``app`` and register them."""
    res = Resources(
        settings=settings,
        db=Database(settings.database_url, maxconn=settings.db_pool_max),
        redis=_redis(settings.redis_url, settings.redis_pool_max, 5.0),
        # One connection per open event stream, parked in XREAD BLOCK for up to
        # sse_block_ms: the socket timeout must outlast it.
        stream_redis=_redis(
            settings.redis_url, settings.sse_max_streams, settings.sse_block_ms / 1000 + 5
        ),
        http=_session(),
    )
    app.extensions["gateway"] = res
    return res


def resources() -> Resources:
    """The resources of the current app."""
    res: Resources = current_app.extensions["gateway"]
    return res


def settings() -> GatewaySettings:
    """The gateway settings of the current app."""
    return resources().settings
