"""Sessions and their refresh-token families: start, rotate (with reuse detection), revoke."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from backdrop_common.db import Database

# Client-supplied, so bounded before it reaches the database.
MAX_USER_AGENT = 512


def hash_token(token: str) -> bytes:
    """The SHA-256 digest stored in place of a refresh token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def _issue_refresh(cur: Any, session_id: str, ttl: int) -> str:
    token = secrets.token_urlsafe(32)
    cur.execute(
        "INSERT INTO auth.refresh_tokens (token_hash, session_id, expires_at)"
        " VALUES (%s, %s, now() + make_interval(secs => %s))",
        (hash_token(token), session_id, ttl),
    )
    return token


def start_session(
    db: Database, user_id: uuid.UUID | str, user_agent: str | None, ip: str | None, ttl: int
) -> tuple[str, str]:
    """Open a session for ``user_id``; returns ``(session_id, refresh_token)``."""
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO auth.sessions (user_id, user_agent, ip) VALUES (%s, %s, %s) RETURNING id",
            (str(user_id), (user_agent or None) and user_agent[:MAX_USER_AGENT], ip),
        )
        session_id = str(cur.fetchone()["id"])
        return session_id, _issue_refresh(cur, session_id, ttl)


@dataclass
class Rotation:
    """What presenting a refresh token led to."""

    outcome: Literal["ok", "invalid", "reused"]
    session_id: str | None = None
    refresh_token: str | None = None
    user: dict[str, Any] = field(default_factory=dict)


def rotate(db: Database, token: str, ttl: int, *, grace_s: float, max_age_s: int) -> Rotation:
    """Spend ``token`` for a new one of the same family; a spent token revokes the family.

    Two exceptions: a token spent less than ``grace_s`` ago (parallel refreshes of one
    client racing each other) gets a fresh token of the same family, and a session older
    than ``max_age_s`` is over whatever its tokens say (an absolute lifetime).
    """
    # A spent token presented again was stolen or replayed: the revocation is committed
    # here, before the caller answers 401.
    with db.cursor() as cur:
        # Locking the session row serialises concurrent refreshes of one family.
        cur.execute(
            "SELECT rt.session_id, rt.used_at,"
            " rt.used_at > now() - make_interval(secs => %s) AS in_grace,"
            " rt.expires_at > now() AS live, s.revoked_at,"
            " extract(epoch FROM now() - s.created_at) AS age"
            " FROM auth.refresh_tokens rt JOIN auth.sessions s ON s.id = rt.session_id"
            " WHERE rt.token_hash = %s FOR UPDATE OF rt, s",
            (grace_s, hash_token(token)),
        )
        row = cur.fetchone()
        if row is None or row["revoked_at"] is not None:
            return Rotation("invalid")
        session_id = str(row["session_id"])
        remaining = int(max_age_s - float(row["age"]))
        if remaining <= 0:
            _revoke(cur, session_id, "session_expired")
            return Rotation("invalid", session_id)
        if row["used_at"] is not None and not row["in_grace"]:
            _revoke(cur, session_id, "refresh_token_reuse")
            return Rotation("reused", session_id)
        if not row["live"]:
            return Rotation("invalid", session_id)
        cur.execute(
            "UPDATE auth.refresh_tokens SET used_at = coalesce(used_at, now())"
            " WHERE token_hash = %s",
            (hash_token(token),),
        )
        cur.execute(
            "UPDATE auth.sessions SET last_used_at = now() WHERE id = %s RETURNING user_id",
            (session_id,),
        )
        cur.execute(
            "SELECT id, roles, disabled_at FROM auth.users WHERE id = %s",
            (cur.fetchone()["user_id"],),
        )
        user = dict(cur.fetchone())
        if user["disabled_at"] is not None:
            # Disabling revokes sessions too; this covers a refresh racing the disable.
            return Rotation("invalid", session_id)
        new_token = _issue_refresh(cur, session_id, min(ttl, remaining))
        return Rotation("ok", session_id, new_token, user)


def _revoke(cur: Any, session_id: str, reason: str, user_id: uuid.UUID | str | None = None) -> None:
    cur.execute(
        "UPDATE auth.sessions SET revoked_at = now(), revoked_reason = %s"
        " WHERE id = %s AND revoked_at IS NULL AND (%s::uuid IS NULL OR user_id = %s::uuid)",
        (reason, session_id, user_id and str(user_id), user_id and str(user_id)),
    )


def revoke(db: Database, session_id: str, user_id: uuid.UUID | str, reason: str) -> None:
    """Revoke ``user_id``'s session ``session_id`` (its refresh tokens die with it)."""
    with db.cursor() as cur:
        _revoke(cur, session_id, reason, user_id)


def revoke_all(db: Database, user_id: uuid.UUID | str, reason: str) -> list[str]:
    """Revoke every live session of ``user_id``; returns their ids (for the Redis marks)."""
    with db.cursor() as cur:
        cur.execute(
            "UPDATE auth.sessions SET revoked_at = now(), revoked_reason = %s"
            " WHERE user_id = %s AND revoked_at IS NULL RETURNING id",
            (reason, str(user_id)),
        )
        return [str(row["id"]) for row in cur.fetchall()]


def session_of(db: Database, token: str, user_id: uuid.UUID | str) -> str | None:
    """The id of ``user_id``'s session that refresh ``token`` belongs to, if any."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT s.id FROM auth.refresh_tokens rt JOIN auth.sessions s ON s.id = rt.session_id"
            " WHERE rt.token_hash = %s AND s.user_id = %s",
            (hash_token(token), str(user_id)),
        )
        row = cur.fetchone()
    return str(row["id"]) if row is not None else None


def is_active(db: Database, session_id: str) -> bool:
    """True while ``session_id`` exists and is not revoked."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM auth.sessions WHERE id = %s AND revoked_at IS NULL", (session_id,)
        )
        return cur.fetchone() is not None
