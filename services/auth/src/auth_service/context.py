"""The service's collaborators, built once per app (or CLI run), and its start-up work."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import redis
from backdrop_common.db import Database
from backdrop_common.errors import Unavailable
from backdrop_common.migrations import migrate
from backdrop_common.redis_client import redis_from_url
from flask import current_app

from auth_service.keys import KeyStore
from auth_service.passwords import Passwords
from auth_service.ratelimit import LoginThrottle, RegistrationLimiter
from auth_service.settings import AuthSettings

MIGRATIONS = "auth_service.migrations"
log = logging.getLogger(__name__)


@dataclass
class AuthContext:
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


def build_context(settings: AuthSettings) -> AuthContext:
    """Create the collaborators for ``settings`` (nothing connects yet)."""
    db = Database(
        settings.database_url, maxconn=settings.db_pool_max, keep_idle=settings.db_pool_idle
    )
    client = redis_from_url(settings.redis_url)
    return AuthContext(
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


def auth_context() -> AuthContext:
    """The context of the current app."""
    ctx: AuthContext = current_app.extensions["auth"]
    return ctx


class Startup:
    """Migrations plus an active signing key, done once; retried while the DB is down."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx
        self.done = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Run the start-up work unless it already succeeded (``Unavailable`` if DB down)."""
        if self.done:
            return
        with self._lock:
            if not self.done:
                applied = migrate(self.ctx.db, "auth", MIGRATIONS)
                if applied:
                    log.info("applied migrations: %s", ", ".join(applied))
                self.ctx.keys.ensure_active()
                self.done = True

    def try_now(self) -> None:
        """Start-up at app creation; an unreachable DB defers it to the first request."""
        try:
            self.ensure()
        except Unavailable:
            log.warning("database unreachable at start-up; migrations deferred")
