"""The gateway's resources (database, Redis, storage, HTTP session), one set per app
(``backdrop_common.wiring``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from backdrop_common.db import Database
from backdrop_common.redis_client import redis_from_url
from backdrop_common.wiring import current, register
from flask import Flask, url_for
from redis import Redis
from requests.adapters import HTTPAdapter

from gateway.logtail import LogTails
from gateway.settings import GatewaySettings


@dataclass
class Resources:
    """What views need; built once by ``init_app`` and kept in ``app.extensions``."""

    settings: GatewaySettings
    db: Database
    redis: Redis
    stream_redis: Redis
    tails: LogTails
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


def init_app(app: Flask, settings: GatewaySettings) -> Resources:
    """Create the resources for ``app`` and register them."""
    # One connection per log read in XREAD BLOCK for up to sse_block_ms (a tail's, or a
    # stream catching up): the socket timeout must outlast it. Twice the streams: a tail
    # whose last stream left keeps its connection until its read ends.
    stream_redis = redis_from_url(
        settings.redis_url,
        max_connections=2 * settings.sse_max_streams,
        socket_timeout=settings.sse_block_ms / 1000 + 5,
    )
    res = Resources(
        settings=settings,
        db=Database(
            settings.database_url,
            maxconn=settings.db_pool_max,
            keep_idle=settings.db_pool_idle,
        ),
        redis=redis_from_url(settings.redis_url, max_connections=settings.redis_pool_max),
        stream_redis=stream_redis,
        tails=LogTails(stream_redis, settings.sse_block_ms),
        http=_session(),
    )
    return register(app, res)


def resources() -> Resources:
    """The resources of the current app."""
    return current(Resources)


def public_url_for(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` under the configured ``public_url`` (``url_for`` with
    ``_external=True`` would trust the request's Host header: ``upload_url`` pointed at
    ``http://evil.example/...`` for a client that said so)."""
    return resources().settings.public_url.rstrip("/") + url_for(endpoint, **values)
