"""The API ``Task`` document of a ``tasks.tasks`` row, and the task statuses."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from backdrop_contract import states

from backdrop_common.timestamps import rfc3339

# The statuses are part of the API contract, defined once for services and client alike.
STATUSES, TERMINAL, UNFINISHED = states.STATUSES, states.TERMINAL, states.UNFINISHED


DOCUMENT_COLUMNS = "tasks.document AS doc, tasks.id::text AS id, tasks.status"
"""``SELECT DOCUMENT_COLUMNS FROM tasks.tasks WHERE ...``: each task's Task document as
PostgreSQL keeps it in the row (``doc``, JSON text equal to ``task_json`` of the row before
the progress cache is laid over it), its ``id`` and its ``status``. This is what the task read
and the list answer with.

The document is written by a trigger on every INSERT and UPDATE (migration
``009_task_document.sql``, its one home), so the gateway passes PostgreSQL's text through
instead of building it from 25 parsed columns, and a read costs PostgreSQL one more column
instead of building the document. A change of the document is a new migration that replaces
the trigger's function and rewrites every row's document in the same transaction. A test
holds the two forms equal over rows of every shape. The one difference is a whole progress
fraction, which PostgreSQL writes as ``0`` or ``1`` where orjson writes ``0.0``: the same
JSON number."""


def overlay_progress(
    doc: dict[str, Any], status: str, cached: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A document's ``progress`` (``doc``, changed in place) with the Redis cache ``cached``
    laid over it, where that applies; returns ``doc``."""
    # The Redis cache is fresher than the throttled DB copy, but only while running: once
    # finished, the row is the truth (a late cache write must not roll succeeded back to 0.9).
    if cached and status == "running":
        with contextlib.suppress(TypeError, ValueError):
            doc["fraction"] = min(1.0, max(0.0, float(cached.get("fraction", doc["fraction"]))))
        for field in ("stage", "message", "updated_at"):
            if cached.get(field) is not None:
                doc[field] = cached[field]
    return doc


def _progress(row: Mapping[str, Any], cached: Mapping[str, Any] | None) -> dict[str, Any]:
    doc = {
        "fraction": float(row.get("progress_fraction") or 0.0),
        "stage": row.get("progress_stage"),
        "message": row.get("progress_message"),
        "updated_at": rfc3339(row.get("progress_updated_at")),
    }
    return overlay_progress(doc, row["status"], cached)


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
