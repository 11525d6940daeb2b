"""The ``auth.users`` table: accounts, their password hashes and roles."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg2.errors
from backdrop_common.db import Database
from backdrop_common.errors import Conflict

ROLES = ("user", "admin")
_COLUMNS = "id, email, username, name, roles, created_at"
_CONSTRAINT_FIELD = {"users_email_key": "email", "users_username_key": "username"}


def create_user(
    db: Database,
    *,
    email: str,
    username: str,
    password_hash: str,
    name: str | None = None,
    roles: Sequence[str] = ("user",),
) -> dict[str, Any]:
    """Insert a user; ``Conflict`` (naming the field) if the email or username is taken."""
    try:
        with db.cursor() as cur:
            cur.execute(
                "INSERT INTO auth.users (email, username, name, password_hash, roles)"
                " VALUES (%s, %s, %s, %s, %s)"
                " RETURNING id, email, username, name, roles, created_at",
                (email, username, name, password_hash, list(roles)),
            )
            return dict(cur.fetchone())
    except psycopg2.errors.UniqueViolation as exc:
        # The unique indexes decide, so two racing registrations cannot both win.
        field = _CONSTRAINT_FIELD.get(exc.diag.constraint_name or "", "email")
        raise Conflict(
            f"This {field} is already taken.", errors={field: ["Already taken."]}
        ) from exc


def find_for_login(db: Database, identifier: str) -> dict[str, Any] | None:
    """The user whose email (if ``identifier`` has an ``@``) or username matches, any case."""
    column = "email" if "@" in identifier else "username"
    with db.cursor() as cur:
        cur.execute(
            f"SELECT {_COLUMNS}, password_hash FROM auth.users"  # noqa: S608 - fixed names
            f" WHERE lower({column}) = lower(%s)",
            (identifier,),
        )
        row = cur.fetchone()
    return dict(row) if row is not None else None


def get_user(db: Database, user_id: uuid.UUID | str) -> dict[str, Any] | None:
    """The user with ``user_id``, or ``None``."""
    with db.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM auth.users WHERE id = %s", (str(user_id),))  # noqa: S608
        row = cur.fetchone()
    return dict(row) if row is not None else None


def set_password_hash(db: Database, user_id: uuid.UUID | str, password_hash: str) -> None:
    """Replace the stored hash (used to upgrade hashes made with older parameters)."""
    with db.cursor() as cur:
        cur.execute(
            "UPDATE auth.users SET password_hash = %s, updated_at = now() WHERE id = %s",
            (password_hash, str(user_id)),
        )


def rfc3339(value: dt.datetime) -> str:
    """``value`` as an RFC 3339 UTC timestamp ending in ``Z``."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def user_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API ``User`` document of a user row (no password hash, ever)."""
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "username": row["username"],
        "name": row["name"],
        "roles": list(row["roles"]),
        "created_at": rfc3339(row["created_at"]),
    }
