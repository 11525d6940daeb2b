"""Rows of ``tasks.tasks``: statuses, query helpers, and the API ``Task`` document."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

from backdrop_contract import states

from backdrop_common.db import Database
from backdrop_common.timestamps import rfc3339

TaskRow = dict[str, Any]
TaskId = uuid.UUID | str

# The statuses are part of the API contract, defined once for services and client alike.
STATUSES, TERMINAL, UNFINISHED = states.STATUSES, states.TERMINAL, states.UNFINISHED


def as_uuid(value: TaskId | None) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is None or malformed (callers answer 404)."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def fetch_all(
    db: Database, query: str, args: Mapping[str, Any], *, read: bool = False
) -> list[TaskRow]:
    """Run ``query`` in its own transaction (again once if the connection died); every row.

    ``read=True`` for a read-only ``SELECT``: autocommit, one round trip (``Database.run``).
    """

    def work(cur: Any) -> list[TaskRow]:
        cur.execute(query, args)
        return [dict(r) for r in cur.fetchall()]

    return db.run(work, read=read)


def fetch_one(
    db: Database, query: str, args: Mapping[str, Any], *, read: bool = False
) -> TaskRow | None:
    """Run ``query`` in its own transaction (again once if the connection died); first row."""
    rows = fetch_all(db, query, args, read=read)
    return rows[0] if rows else None


def guarded_update(
    db: Database, task_id: TaskId, sets: str, guard: str, **args: Any
) -> TaskRow | None:
    """``UPDATE ... SET <sets>, updated_at = now() WHERE id = .. AND <guard> RETURNING *``.

    ``sets`` and ``guard`` are literals from this package; values go in ``args``.
    """
    tid = as_uuid(task_id)
    if tid is None:
        return None
    query = (
        f"UPDATE tasks.tasks SET {sets}, updated_at = now() "  # noqa: S608 - literals only
        f"WHERE id = %(id)s AND {guard} RETURNING *"
    )
    return fetch_one(db, query, {**args, "id": tid})


def _progress(row: Mapping[str, Any], cached: Mapping[str, Any] | None) -> dict[str, Any]:
    doc = {
        "fraction": float(row.get("progress_fraction") or 0.0),
        "stage": row.get("progress_stage"),
        "message": row.get("progress_message"),
        "updated_at": rfc3339(row.get("progress_updated_at")),
    }
    # The Redis cache is fresher than the throttled DB copy, but only while running: once
    # finished, the row is the truth (a late cache write must not roll succeeded back to 0.9).
    if cached and row.get("status") == "running":
        with contextlib.suppress(TypeError, ValueError):
            doc["fraction"] = min(1.0, max(0.0, float(cached.get("fraction", doc["fraction"]))))
        for field in ("stage", "message", "updated_at"):
            if cached.get(field) is not None:
                doc[field] = cached[field]
    return doc


def task_json(row: Mapping[str, Any], progress: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The API ``Task`` document for ``row``; ``progress`` (the Redis cache) overlays it."""
    error = None
    if row.get("error_code"):
        error = {"code": row["error_code"], "message": row.get("error_message")}
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "processor": row["processor"],
        "params": row.get("params") or {},
        "filename": row["filename"],
        "size": None if row["size"] is None else int(row["size"]),
        "content_type": row["content_type"],
        "sha256": row.get("sha256"),
        "progress": _progress(row, progress),
        "attempts": int(row.get("attempts") or 0),
        "max_attempts": int(row.get("max_attempts") or 0),
        "attempt_errors": list(row.get("attempt_errors") or []),
        "cancel_requested": bool(row.get("cancel_requested")),
        "error": error,
        "created_at": rfc3339(row.get("created_at")),
        "updated_at": rfc3339(row.get("updated_at")),
        "queued_at": rfc3339(row.get("queued_at")),
        "started_at": rfc3339(row.get("started_at")),
        "finished_at": rfc3339(row.get("finished_at")),
        "upload_expires_at": rfc3339(row.get("upload_expires_at")),
        "next_attempt_at": rfc3339(row.get("next_attempt_at")),
    }
