"""Presigned upload instructions and ``upload-complete``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backdrop_common import taskstore
from backdrop_common.body import load, parse_json
from backdrop_common.errors import Conflict, PayloadTooLarge, ValidationFailed
from backdrop_common.tokens import current_principal, require_auth
from backdrop_common.upload_schemas import UploadCompleteSchema
from flask import Blueprint, Response, jsonify, request

from upload_service.resources import Resources, resources
from upload_service.verify import verify_and_queue

bp = Blueprint("uploads", __name__)


def owned_task(res: Resources, task_id: str) -> taskstore.TaskRow:
    """The caller's task, or 404 (also when it belongs to someone else)."""
    return taskstore.get_owned_task(res.db, task_id, current_principal().user_id)


def _multipart_upload_id(res: Resources, row: taskstore.TaskRow) -> str:
    """The task's multipart upload, created once even when two calls race."""
    if row.get("multipart_upload_id"):
        return str(row["multipart_upload_id"])
    key = row["object_key"]
    upload_id = res.storage.create_multipart(key, row["content_type"])
    if taskstore.set_multipart_upload(res.db, row["id"], upload_id) is not None:
        return upload_id
    res.storage.abort_multipart(key, upload_id)  # lost the race: use the winner's
    current = taskstore.get_task(res.db, row["id"])
    if current is None or not current.get("multipart_upload_id"):
        raise Conflict("The task is no longer awaiting its upload.")
    return str(current["multipart_upload_id"])


def instructions(res: Resources, row: taskstore.TaskRow) -> dict[str, Any]:
    """The API ``upload`` object for an ``awaiting_upload`` task."""
    settings = res.settings
    if row["size"] is None:  # a size-less seed task: only the streamed body can carry it
        raise Conflict("A task without a declared size takes its bytes at its upload_url.")
    size = int(row["size"])
    if size > settings.max_upload_bytes:
        raise PayloadTooLarge(f"Uploads are limited to {settings.max_upload_bytes} bytes.")
    window = int((row["upload_expires_at"] - datetime.now(UTC)).total_seconds())
    if window <= 0:
        raise Conflict("The task's upload window has closed.")
    key = row["object_key"]
    if size >= settings.multipart_threshold:
        upload = res.storage.presigned_multipart(
            key,
            size=size,
            content_type=row["content_type"],
            expires_s=min(settings.multipart_expires_s, window),
            upload_id=_multipart_upload_id(res, row),
        )
        upload.pop("upload_id")  # ours to track, not the client's
    else:
        upload = res.storage.presigned_post(
            key,
            content_type=row["content_type"],
            max_size=size,
            expires_s=min(settings.presign_expires_s, window),
        )
    upload["stream_url"] = f"{settings.public_url.rstrip('/')}/v1/tasks/{row['id']}/content"
    return upload


@bp.post("/internal/tasks/<task_id>/upload-instructions")
@require_auth()
def upload_instructions(task_id: str) -> Response:
    """How the client sends the bytes of its task (called by the gateway)."""
    res = resources()
    row = owned_task(res, task_id)
    if row["status"] != "awaiting_upload":
        raise Conflict(f"The task is {row['status']}; it no longer takes an upload.")
    return jsonify(instructions(res, row))


@bp.post("/v1/tasks/<task_id>/upload-complete")
@require_auth()
def upload_complete(task_id: str) -> tuple[Response, int]:
    """Verify the uploaded object and queue the task (idempotent)."""
    res = resources()
    row = owned_task(res, task_id)
    raw = request.get_data(cache=False)  # capped by MAX_CONTENT_LENGTH; may come chunked
    detail = "The body must be JSON: {parts?: [{part_number, etag}]}."
    body = parse_json(raw, detail) if raw.strip() else None
    if body is None and raw.strip():  # a literal ``null``; no body at all is fine
        raise ValidationFailed("The body must be a JSON object.")
    parts = None if body is None else load(UploadCompleteSchema, body).get("parts")
    queued = verify_and_queue(res, row, parts=parts)
    return jsonify(task=taskstore.task_json(queued)), 202
