"""The API ``Task`` document of a ``tasks.tasks`` row, and the task statuses."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from backdrop_contract import states

from backdrop_common.timestamps import rfc3339

# The statuses are part of the API contract, defined once for services and client alike.
STATUSES, TERMINAL, UNFINISHED = states.STATUSES, states.TERMINAL, states.UNFINISHED

DOCUMENT_COLUMNS = (
    "id::text AS id, status, processor, params, filename, size, content_type, sha256,"
    " progress_fraction, progress_stage, progress_message, progress_updated_at, attempts,"
    " max_attempts, attempt_errors, cancel_requested, error_code, error_message, created_at,"
    " updated_at, queued_at, started_at, finished_at, upload_expires_at, next_attempt_at"
)
"""The columns ``task_json`` reads, and no others: what a read that only answers with Task
documents selects. The rest (the result and artifacts, keys, leases, trace context, the
owner the query already filtered on) is not parsed for nothing; a 20-task page spent a tenth
of its CPU decoding results it did not show, and 4 % making UUIDs of its owner's id. The id
comes as the text the document shows: parsed into a ``UUID`` and written back, it was 11 %
of a page."""


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
