"""The upload service's shared clients (database, Redis, storage), bound once per app."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from backdrop_common.db import Database
from backdrop_common.redis_client import redis_from_url
from backdrop_common.storage import Storage
from flask import current_app

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


def resources() -> Resources:
    """The resources of the current app."""
    res: Resources = current_app.extensions["upload"]
    return res
