"""The services' PostgreSQL roles: ``backdrop_auth`` sees only ``auth``, ``backdrop_tasks`` only
``tasks``, neither may change a schema; the grants are idempotent and cover later tables."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
from backdrop_common.db import Database
from backdrop_common.dbroles import (
    AUTH_ROLE,
    TASKS_ROLE,
    RoleSettings,
    ensure_service_roles,
    role_url,
)
from backdrop_common.taskstore import migrate_tasks
from pydantic import ValidationError

from tests.helpers import PASSWORD, AuthHelper

Refused = psycopg2.errors.InsufficientPrivilege


@pytest.fixture(scope="module")
def roles(db: Database) -> Database:
    """Both schemas migrated by the owner (the suite's superuser), then the roles granted."""
    migrate_tasks(db)
    ensure_service_roles(db, {})
    return db


@pytest.fixture
def connect(roles: Database, database_url: str) -> Iterator[Any]:
    """``connect(role)``: a connection to the suite's database as ``role`` (rolled back)."""
    opened: list[Any] = []

    def open_as(role: str) -> Any:
        conn = psycopg2.connect(role_url(database_url, role))
        opened.append(conn)
        return conn

    yield open_as
    for conn in opened:
        conn.rollback()
        conn.close()


def _refused(conn: Any, statement: str) -> bool:
    """Whether PostgreSQL refuses ``statement`` for lack of privilege (other errors raise)."""
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT attempt")
        try:
            cur.execute(statement)
        except Refused:
            cur.execute("ROLLBACK TO SAVEPOINT attempt")
            return True
        cur.execute("ROLLBACK TO SAVEPOINT attempt")
        return False


def test_tasks_role_cannot_read_or_write_auth(connect: Any) -> None:
    conn = connect(TASKS_ROLE)
    assert not _refused(conn, "SELECT count(*) FROM tasks.tasks")
    assert not _refused(conn, "UPDATE tasks.tasks SET attempts = attempts WHERE false")
    for statement in (
        "SELECT email, password_hash FROM auth.users",
        "SELECT private_key_encrypted FROM auth.signing_keys",
        "INSERT INTO auth.users (email, username, password_hash) VALUES ('m@x.io', 'm', 'h')",
        "UPDATE auth.users SET roles = ARRAY['admin'] WHERE true",
        "DELETE FROM auth.sessions",
    ):
        assert _refused(conn, statement), statement


def test_auth_role_cannot_read_tasks(connect: Any) -> None:
    conn = connect(AUTH_ROLE)
    assert not _refused(conn, "SELECT count(*) FROM auth.users")
    assert not _refused(conn, "DELETE FROM auth.refresh_tokens WHERE false")
    for statement in (
        "SELECT * FROM tasks.tasks",
        "UPDATE tasks.tasks SET status = 'succeeded' WHERE true",
        "SELECT * FROM tasks.webhook_deliveries",
    ):
        assert _refused(conn, statement), statement


def _schema_changes(schema: str, table: str) -> list[str]:
    """Statements only the owner may run, against ``schema`` and one of its tables."""
    return [
        f"CREATE TABLE {schema}.planted (id int)",
        f"ALTER TABLE {schema}.{table} ADD COLUMN planted text",
        f"DROP TABLE {schema}.{table}",
        f"TRUNCATE {schema}.{table}",
        f"INSERT INTO {schema}.schema_migrations VALUES (999, 'forged')",  # noqa: S608 - test SQL
        f"DELETE FROM {schema}.schema_migrations",  # noqa: S608 - test SQL
        "CREATE SCHEMA planted",
        "CREATE TABLE public.planted (id int)",
    ]


@pytest.mark.parametrize(
    ("role", "schema", "table"), [(TASKS_ROLE, "tasks", "tasks"), (AUTH_ROLE, "auth", "users")]
)
def test_no_role_may_change_a_schema_or_the_migration_record(
    connect: Any, role: str, schema: str, table: str
) -> None:
    conn = connect(role)
    assert not _refused(conn, f"SELECT version FROM {schema}.schema_migrations")  # noqa: S608
    for statement in _schema_changes(schema, table):
        assert _refused(conn, statement), (role, statement)


def test_grants_are_idempotent_and_cover_tables_of_later_migrations(
    roles: Database, connect: Any
) -> None:
    ensure_service_roles(roles, {})  # a second deployment's run
    with roles.cursor() as cur:  # the owner adds a table, as a later migration would
        cur.execute("CREATE TABLE IF NOT EXISTS tasks.later (id bigserial PRIMARY KEY, note text)")
    tasks_conn, auth_conn = connect(TASKS_ROLE), connect(AUTH_ROLE)
    try:
        assert not _refused(tasks_conn, "INSERT INTO tasks.later (note) VALUES ('x')")
        assert not _refused(tasks_conn, "SELECT note FROM tasks.later")
        assert _refused(auth_conn, "SELECT note FROM tasks.later")
    finally:
        for conn in (tasks_conn, auth_conn):
            conn.rollback()  # their locks on the table would block the DROP
        with roles.cursor() as cur:
            cur.execute("DROP TABLE tasks.later")


def test_role_password_reaches_the_server_hashed(roles: Database) -> None:
    password = secrets.token_hex(32)
    ensure_service_roles(roles, {TASKS_ROLE: password})
    with roles.cursor() as cur:
        cur.execute("SELECT rolpassword, rolsuper, rolcreaterole, rolcreatedb FROM pg_authid"
                    " WHERE rolname = %s", (TASKS_ROLE,))  # fmt: skip
        row = cur.fetchone()
    assert row["rolpassword"].startswith("SCRAM-SHA-256$")
    assert password not in row["rolpassword"]
    assert not (row["rolsuper"] or row["rolcreaterole"] or row["rolcreatedb"])


def test_role_passwords_must_be_real_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    strong = secrets.token_hex(32)
    for name in ("BACKDROP_SECRET_KEY", "BACKDROP_S3_SECRET_KEY", "BACKDROP_DB_AUTH_PASSWORD"):
        monkeypatch.setenv(name, strong)
    monkeypatch.setenv("BACKDROP_ENV", "production")
    for weak in ("", "backdrop", "password"):
        monkeypatch.setenv("BACKDROP_DB_TASKS_PASSWORD", weak)
        with pytest.raises(ValidationError, match="BACKDROP_DB_TASKS_PASSWORD"):
            RoleSettings()
    monkeypatch.setenv("BACKDROP_DB_TASKS_PASSWORD", secrets.token_hex(32))
    assert RoleSettings().passwords()[AUTH_ROLE] == strong


def test_auth_service_runs_as_its_role_without_migrating(
    roles: Database, database_url: str, make_app: Any
) -> None:
    app = make_app(database_url=role_url(database_url, AUTH_ROLE), migrate_on_start=False)
    auth = AuthHelper(app.test_client())
    assert auth.register(username="roleuser").status_code == 201
    assert auth.login("roleuser", PASSWORD).status_code == 200
    # A role service must not try to migrate: it could not (no CREATE on the database).
    with pytest.raises(Exception, match="permission denied"):
        make_app(database_url=role_url(database_url, AUTH_ROLE), migrate_on_start=True)
