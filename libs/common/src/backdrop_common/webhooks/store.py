"""Webhook endpoints, task callbacks and the delivery log in PostgreSQL (schema ``tasks``).

Secrets are Standard Webhooks secrets: ``whsec_`` + base64 of 24 random bytes. A delivery
is signed with its endpoint's current secret (so a rotation applies to retries too) or
with its task's callback secret.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any, TypedDict

from backdrop_common.db import Database
from backdrop_common.taskstore import fetch_all, fetch_one
from backdrop_common.timestamps import rfc3339

MAX_ENDPOINTS = 10
"""Endpoints one user may register."""


class Endpoint(TypedDict):
    """A registered endpoint as the API shows it (never with its secret)."""

    id: str
    url: str
    created_at: str


def new_secret() -> str:
    """A fresh signing secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def endpoint_json(row: dict[str, Any]) -> Endpoint:
    """The API document of an endpoint row."""
    return {"id": str(row["id"]), "url": row["url"], "created_at": rfc3339(row["created_at"])}


def create_endpoint(db: Database, owner_id: uuid.UUID, url: str) -> tuple[Endpoint, str] | None:
    """Register ``url`` for all of the owner's tasks: ``(endpoint, secret)``, or None when
    the owner already has ``MAX_ENDPOINTS``."""
    secret = new_secret()
    row = fetch_one(
        db,
        """INSERT INTO tasks.webhook_endpoints (id, owner_id, url, secret)
           SELECT %(id)s, %(owner)s, %(url)s, %(secret)s
            WHERE (SELECT count(*) FROM tasks.webhook_endpoints
                    WHERE owner_id = %(owner)s) < %(max)s
           RETURNING *""",
        {"id": uuid.uuid4(), "owner": owner_id, "url": url, "secret": secret, "max": MAX_ENDPOINTS},
    )
    return (endpoint_json(row), secret) if row else None


def list_endpoints(db: Database, owner_id: uuid.UUID) -> list[Endpoint]:
    """The owner's endpoints, oldest first."""
    rows = fetch_all(
        db,
        "SELECT * FROM tasks.webhook_endpoints WHERE owner_id = %(owner)s ORDER BY created_at, id",
        {"owner": owner_id},
    )
    return [endpoint_json(r) for r in rows]


def delete_endpoint(db: Database, owner_id: uuid.UUID, endpoint_id: uuid.UUID) -> bool:
    """Remove an endpoint (and its delivery log); False when the owner has no such one."""
    row = fetch_one(
        db,
        """DELETE FROM tasks.webhook_endpoints WHERE id = %(id)s AND owner_id = %(owner)s
           RETURNING id""",
        {"id": endpoint_id, "owner": owner_id},
    )
    return row is not None


def rotate_secret(db: Database, owner_id: uuid.UUID, endpoint_id: uuid.UUID) -> str | None:
    """Give an endpoint a new secret (pending retries use it); None when not the owner's."""
    secret = new_secret()
    row = fetch_one(
        db,
        """UPDATE tasks.webhook_endpoints SET secret = %(secret)s
            WHERE id = %(id)s AND owner_id = %(owner)s RETURNING id""",
        {"id": endpoint_id, "owner": owner_id, "secret": secret},
    )
    return secret if row else None


def add_callback(db: Database, task_id: uuid.UUID, url: str) -> str:
    """Give a task its callback URL; returns the secret its deliveries are signed with
    (the one already set when the task has a callback: idempotent creations replay)."""
    row = fetch_one(
        db,
        """INSERT INTO tasks.task_callbacks (task_id, url, secret)
           VALUES (%(id)s, %(url)s, %(secret)s)
           ON CONFLICT (task_id) DO UPDATE SET task_id = EXCLUDED.task_id
           RETURNING secret""",
        {"id": task_id, "url": url, "secret": new_secret()},
    )
    assert row is not None
    return str(row["secret"])


def deliveries(
    db: Database, owner_id: uuid.UUID, endpoint_id: uuid.UUID, limit: int = 50
) -> list[dict[str, Any]] | None:
    """An endpoint's newest deliveries with every attempt; None when not the owner's."""
    if not fetch_one(
        db,
        "SELECT 1 FROM tasks.webhook_endpoints WHERE id = %(id)s AND owner_id = %(owner)s",
        {"id": endpoint_id, "owner": owner_id},
    ):
        return None
    return _deliveries(db, "d.endpoint_id = %(id)s", endpoint_id, owner_id, limit)


def task_deliveries(
    db: Database, owner_id: uuid.UUID, task_id: uuid.UUID, limit: int = 50
) -> list[dict[str, Any]]:
    """Every delivery of one of the owner's tasks (its callback's and its endpoints')."""
    return _deliveries(db, "d.task_id = %(id)s", task_id, owner_id, limit)


def _deliveries(
    db: Database, where: str, key: uuid.UUID, owner_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    rows = fetch_all(
        db,
        f"""SELECT d.*, COALESCE(json_agg(a ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL),
                                '[]') AS attempt_log
             FROM tasks.webhook_deliveries d
             LEFT JOIN tasks.webhook_attempts a ON a.delivery_id = d.id
            WHERE {where} AND d.owner_id = %(owner)s
            GROUP BY d.id ORDER BY d.created_at DESC, d.id LIMIT %(limit)s""",  # noqa: S608 - where is a literal
        {"id": key, "owner": owner_id, "limit": limit},
    )
    return [_delivery_json(r) for r in rows]


def _delivery_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "task_id": str(row["task_id"]),
        "webhook_id": str(row["endpoint_id"]) if row["endpoint_id"] else None,
        "task_status": row["task_status"],
        "state": row["state"],
        "attempts": row["attempts"],
        "next_attempt_at": rfc3339(row["next_attempt_at"]) if row["state"] == "pending" else None,
        "created_at": rfc3339(row["created_at"]),
        "finished_at": rfc3339(row["finished_at"]),
        "attempt_log": [
            {
                "at": a["at"],
                "status_code": a["status_code"],
                "error": a["error"],
                "duration_ms": a["duration_ms"],
                "response": a["response"],
            }
            for a in row["attempt_log"]
        ],
    }
