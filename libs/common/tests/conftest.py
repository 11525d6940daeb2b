"""Fixtures for the shared library's tests: a migrated task store and a task builder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from backdrop_common import taskstore
from backdrop_common.db import Database
from backdrop_testing.tasks import new_task


@pytest.fixture(scope="session")
def task_db_session(database_url: str) -> Iterator[Database]:
    """The session's database with the ``tasks`` schema applied once."""
    db = Database(database_url, maxconn=30)
    taskstore.migrate_tasks(db)
    yield db
    db.close()


@pytest.fixture
def db(task_db_session: Database) -> Iterator[Database]:
    """The task store, emptied after each test (threads in tests rule out rollbacks)."""
    yield task_db_session
    with task_db_session.cursor() as cur:
        cur.execute("TRUNCATE tasks.tasks")


@pytest.fixture
def make_task(db: Database) -> Callable[..., taskstore.TaskRow]:
    """Factory: ``make_task(**overrides)`` creates an ``awaiting_upload`` task."""

    def make(**overrides: Any) -> taskstore.TaskRow:
        return new_task(db, **overrides)

    return make
