"""Fixtures for the auth suite: a migrated database cleaned per test, apps, clients, users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from auth_service.app import create_app
from auth_service.resources import MIGRATIONS, Resources
from auth_service.settings import AuthSettings
from backdrop_common.db import Database
from backdrop_common.migrations import migrate
from backdrop_common.wiring import EXTENSION
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import AuthHelper

# Cheap argon2 so the suite runs fast; production uses argon2-cffi's defaults.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}
# Every test client registers from 127.0.0.1; the registration limits have their own tests.
MANY_REGISTRATIONS = {"register_max_per_ip": 10_000, "register_max_global_per_minute": 10_000}


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    """The suite's database with the auth schema migrated."""
    database = Database(database_url)
    migrate(database, "auth", MIGRATIONS)
    yield database
    database.close()


@pytest.fixture
def clean(db: Database, redis_client: redis.Redis) -> Database:
    """Empty auth tables (and, through ``redis_client``, an empty Redis DB)."""
    with db.cursor() as cur:
        cur.execute(
            "TRUNCATE auth.users, auth.sessions, auth.refresh_tokens, auth.signing_keys CASCADE"
        )
    return db


@pytest.fixture
def make_settings(database_url: str, redis_url: str) -> Callable[..., AuthSettings]:
    """Factory of test settings pointing at the suite's servers; kwargs override."""

    def make(**overrides: Any) -> AuthSettings:
        values: dict[str, Any] = {
            "env": "test",
            "database_url": database_url,
            "redis_url": redis_url,
            **FAST_ARGON2,
            **MANY_REGISTRATIONS,
        }
        values.update(overrides)
        return AuthSettings(**values)

    return make


@pytest.fixture
def make_app(make_settings: Callable[..., AuthSettings], clean: Database) -> Iterator[Any]:
    """Factory: ``make_app(**settings_overrides)`` builds an app, closed after the test."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app(make_settings(**overrides))
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions[EXTENSION].close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The auth app with test settings."""
    return make_app()


@pytest.fixture
def ctx(app: Flask) -> Resources:
    """The app's resources (database, Redis, keys...)."""
    res: Resources = app.extensions[EXTENSION]
    return res


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def auth(client: FlaskClient) -> AuthHelper:
    """Helper that registers and logs in users."""
    return AuthHelper(client)
