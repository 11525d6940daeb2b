"""The ``auth.users`` table: accounts, their password hashes and roles."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg2.errors
from backdrop_common.db import Database
from backdrop_common.errors import Conflict
from backdrop_common.timestamps import rfc3339
from backdrop_common.tokens import ROLES

_COLUMNS = "id, email, username, name, roles, created_at, disabled_at"


def create_user(
    db: Database,
    *,
    email: str,
    username: str,
    password_hash: str,
    name: str | None = None,
    roles: Sequence[str] = ("user",),
) -> dict[str, Any] | None:
    """Insert a user; ``None`` if the email is taken (the caller must not tell the client),
    ``Conflict`` if the username is (usernames are public handles, emails are not)."""
    try:
        with db.cursor() as cur:
            cur.execute(
                "INSERT INTO auth.users (email, username, name, password_hash, roles)"  # noqa: S608
                " VALUES (%s, %s, %s, %s, %s)"
                f" RETURNING {_COLUMNS}",
                (email, username, name, password_hash, list(roles)),
            )
            return dict(cur.fetchone())
    except psycopg2.errors.UniqueViolation as exc:
        # The unique indexes decide, so two racing registrations cannot both win. Only one
        # violation is reported, so a taken email still has its username checked.
        if exc.diag.constraint_name == "users_username_key" or _username_taken(db, username):
            raise Conflict(
                "This username is already taken.", errors={"username": ["Already taken."]}
            ) from exc
        return None


def _username_taken(db: Database, username: str) -> bool:
    with db.cursor() as cur:
        cur.execute("SELECT 1 FROM auth.users WHERE lower(username) = lower(%s)", (username,))
        return cur.fetchone() is not None


def lookalike(email: str, username: str, name: str | None) -> dict[str, Any]:
    """A user row shaped like a fresh account but stored nowhere: the answer to a
    registration whose email is taken, so the answer does not reveal that it exists."""
    return {
        "id": uuid.uuid4(),
        "email": email,
        "username": username,
        "name": name,
        "roles": ["user"],
        "created_at": dt.datetime.now(dt.UTC),
        "disabled_at": None,
    }


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


def user_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API ``User`` document of a user row (no password hash, ever)."""
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "username": row["username"],
        "name": row["name"],
        "roles": list(row["roles"]),
        "created_at": rfc3339(row["created_at"]),
        "disabled": row.get("disabled_at") is not None,
    }


def list_users(
    db: Database, *, limit: int, after: tuple[dt.datetime, uuid.UUID] | None = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` users, newest first, those created before ``after`` (keyset)."""
    where = "true"
    args: dict[str, Any] = {"n": limit}
    if after is not None:
        where = "(created_at, id) < (%(t)s, %(i)s)"
        args.update(t=after[0], i=str(after[1]))
    with db.cursor() as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM auth.users WHERE {where}"  # noqa: S608 - fixed text
            " ORDER BY created_at DESC, id DESC LIMIT %(n)s",
            args,
        )
        return [dict(row) for row in cur.fetchall()]


def set_disabled(db: Database, user_id: uuid.UUID | str, disabled: bool) -> dict[str, Any] | None:
    """Disable (or enable) an account; ``None`` when there is no such user."""
    with db.cursor() as cur:
        cur.execute(
            "UPDATE auth.users SET updated_at = now(),"  # noqa: S608 - fixed text
            " disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now()) END"
            f" WHERE id = %s RETURNING {_COLUMNS}",
            (disabled, str(user_id)),
        )
        row = cur.fetchone()
    return dict(row) if row is not None else None


def set_roles(
    db: Database, user_id: uuid.UUID | str, roles: Sequence[str]
) -> tuple[dict[str, Any], list[str]] | None:
    """Replace the user's roles; returns ``(user, roles taken away)`` or ``None``.

    Roles are levels (each includes those below it), so the stored list is every role up to
    the highest one given: ``["admin"]`` is stored as ``["user", "operator", "admin"]``.
    """
    top = max((ROLES.index(r) for r in roles), default=0)
    wanted = list(ROLES[: top + 1])
    with db.cursor() as cur:
        cur.execute("SELECT roles FROM auth.users WHERE id = %s FOR UPDATE", (str(user_id),))
        before = cur.fetchone()
        if before is None:
            return None
        cur.execute(
            "UPDATE auth.users SET roles = %s, updated_at = now()"  # noqa: S608 - fixed text
            f" WHERE id = %s RETURNING {_COLUMNS}",
            (wanted, str(user_id)),
        )
        row = dict(cur.fetchone())
    return row, [r for r in before["roles"] if r not in wanted]
