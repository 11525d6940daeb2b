"""The auth service's resources, one set per app or CLI run (``backdrop_common.wiring``),
and its start-up work."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import redis
from backdrop_common.db import Database
from backdrop_common.errors import Unavailable
from backdrop_common.migrations import migrate
from backdrop_common.redis_client import redis_from_url
from backdrop_common.wiring import current, register
from flask import Flask

from auth_service.keys import KeyStore
from auth_service.passwords import Passwords
from auth_service.ratelimit import LoginThrottle, RegistrationLimiter
from auth_service.settings import AuthSettings

MIGRATIONS = "auth_service.migrations"
log = logging.getLogger(__name__)


@dataclass
class Resources:
    """Everything a view needs: settings, database, Redis, keys, hasher, the limits."""

    settings: AuthSettings
    db: Database
    redis: redis.Redis
    keys: KeyStore
    passwords: Passwords
    throttle: LoginThrottle
    registrations: RegistrationLimiter

    def close(self) -> None:
        """Release pooled connections."""
        self.db.close()
        self.redis.close()
        self.registrations.close()

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> Resources:
        """Create the collaborators for ``settings`` (nothing connects yet)."""
        db = Database.from_settings(settings)
        client = redis_from_url(settings.redis_url)
        return cls(
            settings=settings,
            db=db,
            redis=client,
            keys=KeyStore(db, settings.secret_key, settings.access_token_ttl),
            passwords=Passwords(
                settings.argon2_time_cost,
                settings.argon2_memory_cost,
                settings.argon2_parallelism,
                max_concurrent=settings.argon2_max_concurrent,
                max_hashes=settings.argon2_max_concurrent_hashes,
            ),
            throttle=LoginThrottle(client, settings),
            registrations=RegistrationLimiter(settings),
        )


def init_app(app: Flask, settings: AuthSettings) -> Resources:
    """Create the resources for ``app`` and register them."""
    return register(app, Resources.from_settings(settings))


def resources() -> Resources:
    """The resources of the current app."""
    return current(Resources)


class Startup:
    """Migrations (``BACKDROP_MIGRATE_ON_START``) plus an active signing key, done once;
    retried while the DB is down."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.done = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Run the start-up work unless it already succeeded (``Unavailable`` if DB down)."""
        if self.done:
            return
        with self._lock:
            if not self.done:
                if self.res.settings.migrate_on_start:
                    applied = migrate(self.res.db, "auth", MIGRATIONS)
                    if applied:
                        log.info("applied migrations: %s", ", ".join(applied))
                self.res.keys.ensure_active()
                self.done = True

    def try_now(self) -> None:
        """Start-up at app creation; an unreachable DB defers it to the first request."""
        try:
            self.ensure()
        except Unavailable:
            log.warning("database unreachable at start-up; migrations deferred")
