"""The upload service's resources (database, Redis, storage), one set per app
(``backdrop_common.wiring``)."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from backdrop_common.db import Database
from backdrop_common.redis_client import redis_from_url
from backdrop_common.storage import Storage
from backdrop_common.wiring import current, register
from flask import Flask

from upload_service.settings import UploadSettings


@dataclass
class Resources:
    """Everything a request handler needs besides the request."""

    settings: UploadSettings
    db: Database
    redis: redis.Redis
    storage: Storage

    @classmethod
    def from_settings(cls, settings: UploadSettings) -> Resources:
        """Clients for ``settings`` (connections are opened lazily)."""
        return cls(
            settings=settings,
            db=Database.from_settings(settings),
            redis=redis_from_url(settings.redis_url),
            storage=Storage(settings),
        )

    def close(self) -> None:
        """Release pooled connections."""
        self.db.close()
        self.redis.close()


def init_app(app: Flask, settings: UploadSettings) -> Resources:
    """Create the resources for ``app`` and register them."""
    return register(app, Resources.from_settings(settings))


def resources() -> Resources:
    """The resources of the current app."""
    return current(Resources)
