"""Uploads through the service: ``PUT /v1/tasks/<id>/content`` and the seed's
``POST /task/upload/<id>`` (raw body or form field ``file``), streamed to storage."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

from backdrop_common import taskstore
from backdrop_common.errors import PayloadTooLarge, UploadInvalid
from backdrop_common.storage import verified_key
from backdrop_common.tokens import require_auth
from flask import Blueprint, Response, g, jsonify, request

from upload_service.blueprints.uploads import owned_task
from upload_service.resources import Resources, resources
from upload_service.sink import PartSink, body_stream, form_file_chunks, raw_chunks
from upload_service.verify import settled, verify_and_queue

log = logging.getLogger(__name__)
bp = Blueprint("streaming", __name__)
# Past this many unread bytes, an error reply closes the connection instead of letting the
# server drain (read and discard) the rest of a possibly huge body.
DRAIN_LIMIT = 1024 * 1024


@bp.after_request
def _close_if_unread(resp: Response) -> Response:
    """After a reply that left the body unread (an error, a replay), end the connection
    rather than let the server drain (read and discard) a body of possibly gigabytes."""
    environ = request.environ
    sock = environ.get("gunicorn.socket")
    unread = int(environ.get("CONTENT_LENGTH") or 0) or DRAIN_LIMIT + 1
    if sock is not None and not g.get("body_consumed") and unread > DRAIN_LIMIT:

        def shut() -> None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)  # gunicorn's drain then sees EOF and closes

        resp.call_on_close(shut)
    return resp


def _chunks(environ: dict[str, Any]) -> Iterator[bytes]:
    stream = body_stream(environ)
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.lower().startswith("multipart/form-data"):
        return form_file_chunks(stream, content_type)
    return raw_chunks(stream)


def _receive(res: Resources, row: taskstore.TaskRow) -> taskstore.TaskRow:
    """Stream the body to the task's object, then verify and queue."""
    environ = request.environ
    # No declared size (a seed request): the body itself says how long the file is, up to
    # the upload limit; a raw body's Content-Length is checked before a byte is stored.
    declared = row["size"]
    limit = (
        res.settings.max_upload_bytes
        if declared is None
        else min(declared, res.settings.max_upload_bytes)
    )
    length = request.content_length
    is_form = request.mimetype == "multipart/form-data"
    if length is not None and not is_form:
        if length > limit:
            raise PayloadTooLarge(f"The body has {length} bytes; at most {limit} are accepted.")
        if declared is not None and length < declared:
            raise UploadInvalid(f"The body has {length} bytes but {declared} were declared.")
    # A key of this request's own: a concurrent upload of the same task, or a presigned form
    # still valid, can neither overwrite it nor lose its object to this one's failure.
    key = verified_key(row["owner_id"], row["id"])
    sink = PartSink(res.storage, key, row["content_type"], res.settings.stream_part_size, limit)
    try:
        for chunk in _chunks(environ):
            sink.write(chunk)
        g.body_consumed = True
        if declared is not None and sink.size < declared:
            raise UploadInvalid(f"The body has {sink.size} bytes but {declared} were declared.")
        sha256 = sink.close()
    except BaseException:
        try:
            sink.abort()
        except Exception:  # the original error matters more
            log.warning("could not clean up a failed upload of %s", row["id"], exc_info=True)
        raise
    if row.get("multipart_upload_id"):  # presigned parts were offered but not used
        res.storage.abort_multipart(row["object_key"], row["multipart_upload_id"])
        taskstore.clear_multipart_upload(res.db, row["id"])
    return verify_and_queue(res, row, streamed=(key, sha256))


def _upload(task_id: str) -> tuple[Response, int]:
    res = resources()
    row = owned_task(res, task_id)
    if row["status"] != "awaiting_upload":  # a replay: answer without reading the body
        return jsonify(task=taskstore.task_json(settled(row))), 202
    return jsonify(task=taskstore.task_json(_receive(res, row))), 202


@bp.put("/v1/tasks/<task_id>/content")
@require_auth()
def put_content(task_id: str) -> tuple[Response, int]:
    """Upload the file's bytes as the raw request body (streamed to storage)."""
    return _upload(task_id)


@bp.post("/task/upload/<task_id>")
@require_auth()
def seed_upload(task_id: str) -> tuple[Response, int]:
    """Seed alias: the file as the raw body or as the multipart form field ``file``."""
    return _upload(task_id)
