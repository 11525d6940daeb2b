"""Verifying an upload and queueing its task: the one path every upload route ends in.

Order matters for crash safety: the row becomes ``queued`` first (the truth), then the
``queued`` event is appended, then the job is XADDed and confirmed with ``mark_enqueued``.
A crash anywhere after the commit leaves a queued task with ``enqueued_at`` NULL, which the
sweeper relays; a duplicate stream entry is harmless because ``claim`` is guarded.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from backdrop_common import events, streams, taskstore
from backdrop_common.errors import TaskFinished, UploadInvalid
from backdrop_common.storage import ObjectNotFound

from upload_service.resources import Resources

log = logging.getLogger("upload.verify")
SETTLED = frozenset({"queued", "running", "succeeded", "failed"})


def settled(row: taskstore.TaskRow) -> taskstore.TaskRow:
    """A task past its upload: returned as is (idempotent replies), or 409 when it ended."""
    if row["status"] in SETTLED:
        return row
    raise TaskFinished(f"The task is {row['status']}; it no longer takes an upload.")


def _s3_sha256(meta: Mapping[str, Any]) -> str | None:
    """The object's full SHA-256 from S3's checksum, when S3 kept one (not a composite)."""
    value = meta.get("ChecksumSHA256")
    if not value or "-" in value:
        return None
    try:
        return base64.b64decode(value).hex()
    except (binascii.Error, ValueError):
        return None


def _media_type(value: str) -> str:
    """A content type compared as S3 may echo it: case and spaces around ``;`` ignored."""
    return ";".join(part.strip() for part in value.lower().split(";"))


def _reject(res: Resources, key: str, detail: str) -> UploadInvalid:
    """Delete the bad object (the client may upload again) and build the 422."""
    try:
        res.storage.delete(key)
    except Exception:  # the 422 still stands; the sweeper/lifecycle cleans up later
        log.warning("could not delete rejected object %s", key, exc_info=True)
    return UploadInvalid(detail)


def _complete_multipart(
    res: Resources, row: taskstore.TaskRow, parts: Sequence[Mapping[str, Any]] | None
) -> None:
    key, upload_id = row["object_key"], row.get("multipart_upload_id")
    if not upload_id:
        raise UploadInvalid("This task has no multipart upload; send parts only for MULTIPART.")
    try:
        if not parts:
            parts = res.storage.list_parts(key, upload_id)
            if not parts:
                raise UploadInvalid("No parts have been uploaded yet.")
        res.storage.complete_multipart(key, upload_id, parts)
    except ObjectNotFound:
        # Completed by an earlier call that crashed before queueing: the HEAD decides.
        log.info("multipart upload of task %s is already gone", row["id"])
    taskstore.clear_multipart_upload(res.db, row["id"])


def verify_and_queue(
    res: Resources,
    row: taskstore.TaskRow,
    *,
    parts: Sequence[Mapping[str, Any]] | None = None,
    streamed_sha256: str | None = None,
) -> taskstore.TaskRow:
    """Check the stored object against the declaration, then queue the task.

    ``parts`` completes a multipart upload first (also done when the task has one open and
    nothing was streamed); ``streamed_sha256`` is the hash computed while streaming (saves
    reading the object again). Raises ``UploadInvalid`` (object deleted, task still
    ``awaiting_upload``) when the object is missing or does not match.
    """
    if row["status"] != "awaiting_upload":
        return settled(row)
    key = row["object_key"]
    if streamed_sha256 is None and (parts is not None or row.get("multipart_upload_id")):
        _complete_multipart(res, row, parts)
    meta = res.storage.head(key)
    if meta is None:
        raise UploadInvalid("No object has been uploaded for this task yet.")
    size, declared = int(meta["ContentLength"]), int(row["size"])
    if size != declared:
        raise _reject(res, key, f"The object has {size} bytes but {declared} were declared.")
    stored_type, declared_type = str(meta.get("ContentType") or ""), str(row["content_type"])
    if _media_type(stored_type) != _media_type(declared_type):
        # The POST policy pins the type, but a store that does not enforce policies (or a
        # forged form) would hand the processor bytes labelled as something else.
        raise _reject(
            res, key, f"The object is stored as {stored_type!r} but {declared_type!r} was declared."
        )
    if row.get("sha256"):
        actual = streamed_sha256 or _s3_sha256(meta) or res.storage.sha256(key)
        if actual != row["sha256"]:
            raise _reject(
                res, key, f"The object's SHA-256 is {actual} but {row['sha256']} was declared."
            )
    queued = taskstore.mark_queued(res.db, row["id"])
    if queued is None:  # a racing call (or the sweeper's expiry) moved it first
        current = taskstore.get_task(res.db, row["id"])
        return settled(current) if current else settled(row)
    return enqueue(res, queued)


def enqueue(res: Resources, row: taskstore.TaskRow) -> taskstore.TaskRow:
    """Announce a freshly queued task and put its job on the stream (best effort: the
    sweeper relays whatever this could not send)."""
    # The queued event goes first, so it cannot land after the worker's "running".
    events.publish_status(res.redis, row)
    try:
        streams.enqueue_job(res.redis, row["processor"], row["id"])
    except redis.RedisError:
        log.warning("could not enqueue task %s; the sweeper will relay it", row["id"])
        return row
    return taskstore.mark_enqueued(res.db, row["id"]) or row
