"""The compose stack reaches PostgreSQL only through the services' roles (issue 13).

Only the one-shot ``migrate`` connects as the owner (``backdrop``); auth as ``backdrop_auth``,
the other services as ``backdrop_tasks``, each with the password ``migrate`` set from .env.
"""

from __future__ import annotations

import subprocess

import pytest
from backdrop_client import Client

from containers.helpers import Stack


def test_services_are_connected_as_their_roles(stack: Stack, client: Client) -> None:
    client.create_task("checksum", "roles.txt", 5, "text/plain")  # the tasks schema
    assert client.me()["username"]  # the auth schema
    users = stack.sql(
        "SELECT string_agg(DISTINCT usename, ',' ORDER BY usename) FROM pg_stat_activity"
        " WHERE datname = 'backdrop' AND application_name = 'backdrop'"
    )
    assert users == "backdrop_auth,backdrop_tasks"
    # Neither is privileged, and both have the (SCRAM) passwords the migration set.
    roles = stack.sql(
        "SELECT string_agg(rolname || ':' || rolsuper || ':' || rolcreaterole || ':'"
        " || (rolpassword LIKE 'SCRAM-SHA-256$%'), ',' ORDER BY rolname) FROM pg_authid"
        " WHERE rolname IN ('backdrop_auth', 'backdrop_tasks')"
    )
    assert roles == "backdrop_auth:false:false:true,backdrop_tasks:false:false:true"


@pytest.mark.parametrize(
    ("role", "forbidden"),
    [
        ("backdrop_tasks", "SELECT count(*) FROM auth.users"),
        ("backdrop_tasks", "DROP TABLE tasks.tasks"),
        ("backdrop_auth", "SELECT count(*) FROM tasks.tasks"),
    ],
)
def test_a_role_is_refused_what_it_was_not_granted(stack: Stack, role: str, forbidden: str) -> None:
    # psql inside the postgres container, over its local socket, as the role.
    proc = subprocess.run(
        ["docker", "exec", stack.container("postgres"), "psql", "-U", role, "-d", "backdrop",
         "-v", "ON_ERROR_STOP=1", "-tAc", forbidden],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "permission denied" in proc.stderr or "must be owner" in proc.stderr, proc.stderr
