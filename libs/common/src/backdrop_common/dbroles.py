"""The services' own PostgreSQL roles: each may read and write its schema's rows, nothing else.

    schema ``auth``   role ``backdrop_auth``    the auth service
    schema ``tasks``  role ``backdrop_tasks``   gateway, upload, worker, sweeper

The owner of the database (the role that runs the migrations: compose's ``migrate``, the
Kubernetes Job, ``scripts/stack.py``) calls ``ensure_service_roles`` after migrating. A service
role gets ``USAGE`` on its schema and ``SELECT, INSERT, UPDATE, DELETE`` on its tables and
sequences (``schema_migrations``: read only), and nothing on the other schema; no role may
create, alter or drop anything. Default privileges extend the grants to tables that later
migrations add. Every statement is idempotent, so running it again (each deployment) is safe.

Passwords come from ``BACKDROP_DB_AUTH_PASSWORD`` / ``BACKDROP_DB_TASKS_PASSWORD`` and reach
the server already SCRAM-hashed, so no server log can show them. An empty one leaves the
role's password as it is (development: trust authentication on loopback).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2.extensions
from psycopg2 import sql

from backdrop_common.config import BaseServiceSettings
from backdrop_common.db import Database

AUTH_ROLE = "backdrop_auth"
TASKS_ROLE = "backdrop_tasks"
SCHEMA_ROLES = {"auth": AUTH_ROLE, "tasks": TASKS_ROLE}
"""Schema -> the one role that may use it."""


class RoleSettings(BaseServiceSettings):
    """What the owner's migration reads on top of the shared settings: the roles' passwords."""

    db_auth_password: str = ""
    """Password of ``backdrop_auth`` (the auth service's ``BACKDROP_DATABASE_URL`` has it)."""
    db_tasks_password: str = ""
    """Password of ``backdrop_tasks`` (the other services' ``BACKDROP_DATABASE_URL`` has it)."""

    def _secrets(self) -> list[tuple[str, str]]:
        """The shared secrets and both role passwords (required outside development)."""
        return [
            *super()._secrets(),
            ("BACKDROP_DB_AUTH_PASSWORD", self.db_auth_password),
            ("BACKDROP_DB_TASKS_PASSWORD", self.db_tasks_password),
        ]

    def passwords(self) -> dict[str, str]:
        """Role -> password to set (empty: leave it as it is)."""
        return {AUTH_ROLE: self.db_auth_password, TASKS_ROLE: self.db_tasks_password}


def role_url(owner_url: str, role: str, password: str = "") -> str:
    """``owner_url`` (URL or ``key=value`` DSN) with ``role`` (and ``password``) as the user.

    How the dev and test stacks derive each service's ``BACKDROP_DATABASE_URL`` from theirs.
    """
    parts = urlsplit(owner_url)
    if not parts.scheme:
        dsn = psycopg2.extensions.parse_dsn(owner_url)
        dsn.pop("password", None)
        return str(
            psycopg2.extensions.make_dsn(
                **{**dsn, "user": role, **({"password": password} if password else {})}
            )
        )
    userinfo = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def ensure_service_roles(db: Database, passwords: dict[str, str]) -> None:
    """Create each service role if missing, set its password, grant it exactly its schema."""
    with db.cursor() as cur:
        for schema, role in SCHEMA_ROLES.items():
            _ensure_role(cur, role, passwords.get(role, ""))
            _grant_schema(cur, schema, role)


def _ensure_role(cur: psycopg2.extensions.cursor, role: str, password: str) -> None:
    # Roles belong to the whole server, not to one database: two databases of one server
    # migrating at once (test suites, stacks) may both create it; the loser finds it made.
    cur.execute(
        sql.SQL(
            "DO $$ BEGIN CREATE ROLE {} LOGIN;"
            " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ).format(sql.Identifier(role))
    )
    if password:
        hashed = psycopg2.extensions.encrypt_password(
            password, role, cur.connection, "scram-sha-256"
        )
        cur.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(hashed)
            )
        )


def _grant_schema(cur: psycopg2.extensions.cursor, schema: str, role: str) -> None:
    s, r = sql.Identifier(schema), sql.Identifier(role)
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
    for statement in (
        "GRANT CONNECT ON DATABASE {db} TO {r}",
        "GRANT USAGE ON SCHEMA {s} TO {r}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        # Tables and sequences the owner creates later (the next migrations) get the same.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE"
        " ON TABLES TO {r}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ):
        cur.execute(
            sql.SQL(statement).format(db=sql.Identifier(cur.connection.info.dbname), s=s, r=r)
        )
    # Which migrations ran is the owner's record: a service may read it, never forge it.
    cur.execute(
        sql.SQL(
            "DO $$ BEGIN IF to_regclass({t}) IS NOT NULL THEN"
            " REVOKE INSERT, UPDATE, DELETE ON {s}.schema_migrations FROM {r}; END IF; END $$"
        ).format(t=sql.Literal(f"{schema}.schema_migrations"), s=s, r=r)
    )
