"""The running stack talks to PostgreSQL only through the services' own roles (issue 13).

Grey-box: needs the stack's database (``BACKDROP_E2E_DATABASE_URL``, set by ``make test-e2e``;
the container run has none and skips). Every service connection is ``backdrop_auth`` or
``backdrop_tasks``, never the owner or a superuser, and those roles are refused the other
schema on this very database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras
import pytest
from backdrop_common.dbroles import AUTH_ROLE, TASKS_ROLE, role_url

from tests.helpers import User

DATABASE_URL = os.environ.get("BACKDROP_E2E_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not DATABASE_URL, reason="BACKDROP_E2E_DATABASE_URL not set")


@pytest.fixture
def owner() -> Iterator[Any]:
    """A connection to the stack's database as its owner (the test machine's superuser)."""
    conn = psycopg2.connect(DATABASE_URL)
    conn.autocommit = True
    yield conn
    conn.close()


def test_services_connect_as_their_roles_only(user: User, owner: Any) -> None:
    # Touch both schemas through the public API: a task (tasks) and the account (auth).
    user.create_task("checksum", b"roles", filename="roles.txt", content_type="text/plain")
    assert user.get("/v1/auth/me").status_code == 200
    with owner.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(
            "SELECT DISTINCT a.usename, r.rolsuper FROM pg_stat_activity a"
            " JOIN pg_roles r ON r.rolname = a.usename"
            " WHERE a.datname = current_database() AND a.application_name = 'backdrop'"
        )
        users = {(row["usename"], row["rolsuper"]) for row in cur.fetchall()}
    assert users == {(AUTH_ROLE, False), (TASKS_ROLE, False)}


@pytest.mark.parametrize(
    ("role", "forbidden"),
    [
        (TASKS_ROLE, "SELECT password_hash FROM auth.users"),
        (AUTH_ROLE, "SELECT * FROM tasks.tasks"),
    ],
)
def test_each_role_is_refused_the_other_schema(role: str, forbidden: str) -> None:
    conn = psycopg2.connect(role_url(DATABASE_URL, role))
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(forbidden)
    finally:
        conn.close()
