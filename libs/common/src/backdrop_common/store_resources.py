"""The resources of a service that uses all three stores: PostgreSQL, Redis and S3.

A service's ``resources.Resources`` (see ``backdrop_common.wiring``) subclasses
``StoreResources`` with its own settings class when these three clients are all it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Self, TypeVar

import redis

from backdrop_common.config import BaseServiceSettings
from backdrop_common.db import Database
from backdrop_common.health import Check, readiness_checks
from backdrop_common.redis_client import redis_from_url
from backdrop_common.storage import Storage

S = TypeVar("S", bound=BaseServiceSettings)


@dataclass
class StoreResources(Generic[S]):
    """Settings plus the database, Redis and storage clients built from them."""

    settings: S
    db: Database
    redis: redis.Redis
    storage: Storage

    @classmethod
    def from_settings(cls, settings: S) -> Self:
        """Clients for ``settings`` (connections are opened lazily)."""
        return cls(
            settings=settings,
            db=Database.from_settings(settings),
            redis=redis_from_url(settings.redis_url),
            storage=Storage(settings),
        )

    def checks(self) -> dict[str, Check]:
        """The ``/readyz`` checks: each store answers a ping."""
        return readiness_checks(postgres=self.db, redis=self.redis, s3=self.storage)

    def close(self) -> None:
        """Release pooled connections."""
        self.db.close()
        self.redis.close()
