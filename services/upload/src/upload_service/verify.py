"""Verifying an upload and queueing its task: the one path every upload route ends in.

The bytes a worker processes are the bytes checked here: they live under a verified key of
their own (``storage.verified_key``) that no client URL names.

Order matters for crash safety: the row becomes ``queued`` first (the truth), then the
``queued`` event is appended, then the job is XADDed and confirmed (``jobs.send_job``).
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
from backdrop_common import events, jobs, taskstore, tracing
from backdrop_common.errors import TaskFinished, UploadInvalid
from backdrop_common.faults import QUEUED_BEFORE_XADD, fault_point
from backdrop_common.storage import ObjectNotFound, verified_key

from upload_service.metrics import observe_upload
from upload_service.resources import Resources

log = logging.getLogger(__name__)
SETTLED = frozenset({"queued", "running", "succeeded", "failed"})
EARLY_DELETE_MIN_BYTES = 1 << 20  # a client's object this big is deleted once verified


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


def _discard(res: Resources, *keys: str) -> None:
    """Delete objects that will not be processed (best effort: a leftover costs only space)."""
    for key in keys:
        try:
            res.storage.delete(key)
        except Exception:
            log.warning("could not delete %s", key, exc_info=True)


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
        # Completed by an earlier call that crashed before queueing: the copy decides.
        log.info("multipart upload of task %s is already gone", row["id"])
    taskstore.clear_multipart_upload(res.db, row["id"])


def _snapshot(res: Resources, row: taskstore.TaskRow) -> str:
    """Copy the client's object to a fresh verified key; the copy is what gets checked."""
    target = verified_key(row["owner_id"], row["id"])
    try:
        res.storage.copy(row["object_key"], target, size=row["size"])
    except ObjectNotFound as exc:
        raise UploadInvalid("No object has been uploaded for this task yet.") from exc
    return target


def _check(res: Resources, row: taskstore.TaskRow, key: str, sha256: str | None) -> int:
    """Raise ``UploadInvalid`` unless the object at ``key`` is what the task declared;
    returns its size (a size-less seed task declared none: any size up to the limit)."""
    meta = res.storage.head(key)
    if meta is None:
        raise UploadInvalid("No object has been uploaded for this task yet.")
    size, declared = int(meta["ContentLength"]), row["size"]
    if declared is not None and size != int(declared):
        raise UploadInvalid(f"The object has {size} bytes but {declared} were declared.")
    stored_type, declared_type = str(meta.get("ContentType") or ""), str(row["content_type"])
    if _media_type(stored_type) != _media_type(declared_type):
        # The POST policy pins the type, but a store that does not enforce policies (or a
        # forged form) would hand the processor bytes labelled as something else.
        raise UploadInvalid(
            f"The object is stored as {stored_type!r} but {declared_type!r} was declared."
        )
    if row.get("sha256"):
        actual = sha256 or _s3_sha256(meta) or res.storage.sha256(key)
        if actual != row["sha256"]:
            raise UploadInvalid(
                f"The object's SHA-256 is {actual} but {row['sha256']} was declared."
            )
    return size


def verify_and_queue(
    res: Resources,
    row: taskstore.TaskRow,
    *,
    parts: Sequence[Mapping[str, Any]] | None = None,
    streamed: tuple[str, str] | None = None,
) -> taskstore.TaskRow:
    """Check the uploaded bytes against the declaration, then queue the task.

    The bytes checked are the bytes processed: a client's upload (presigned POST or parts,
    which its URLs could still overwrite) is first copied to a verified key no URL names,
    and the copy is checked and becomes the task's ``object_key``. ``streamed`` is
    ``(key, sha256)`` of a body the service itself stored under a verified key. ``parts``
    completes a multipart upload first (also done when the task has one open). Raises
    ``UploadInvalid`` (objects deleted, task still ``awaiting_upload``) when the object is
    missing or does not match.
    """
    if row["status"] != "awaiting_upload":
        return settled(row)
    # The client's upload-complete request joins the task's trace (begun at creation).
    attributes = {"backdrop.task_id": str(row["id"])}
    with tracing.span("task upload-complete", row.get("traceparent"), attributes):
        return _verify_and_queue(res, row, parts, streamed)


def _verify_and_queue(
    res: Resources,
    row: taskstore.TaskRow,
    parts: Sequence[Mapping[str, Any]] | None,
    streamed: tuple[str, str] | None,
) -> taskstore.TaskRow:
    input_key = row["object_key"]
    if streamed is None:
        if parts is not None or row.get("multipart_upload_id"):
            _complete_multipart(res, row, parts)
        key, sha256 = _snapshot(res, row), None
    else:
        key, sha256 = streamed
    try:
        size = _check(res, row, key, sha256)
    except UploadInvalid:
        # The client may upload again; a streamed body removes only its own key (another
        # upload of the same task may be streaming, or already verified, beside it).
        _discard(res, key, *([] if streamed else [input_key]))
        raise
    queued = taskstore.mark_queued(res.db, row["id"], object_key=key, size=size)
    if queued is None:  # a racing call (or the sweeper's expiry) moved it first
        _discard(res, key)
        current = taskstore.get_task(res.db, row["id"])
        return settled(current) if current else settled(row)
    method = "multipart" if row.get("multipart_upload_id") else "presigned"
    observe_upload("streamed" if streamed else method, int(queued["size"] or 0), row["created_at"])
    sent = enqueue(res, queued)
    if streamed is None and size >= EARLY_DELETE_MIN_BYTES:
        # Checked and copied, so the client's object goes, but only once the job is on its
        # stream: the delete is an S3 round trip the worker need not wait for. The sweeper's
        # input sweep deletes every input key anyway once its URLs have lapsed (a still-valid
        # URL can upload again), so this early delete only saves storage: a small object is
        # left to the sweep (a third of this request's S3 calls, ~7% of a tiny task's CPU).
        _discard(res, input_key)
    return sent


def enqueue(res: Resources, row: taskstore.TaskRow) -> taskstore.TaskRow:
    """Announce a freshly queued task and put its job on the stream within its owner's fair
    share (best effort: the sweeper sends whatever this could not, or held)."""
    fault_point(QUEUED_BEFORE_XADD)
    # The queued event goes first, so it cannot land after the worker's "running".
    events.publish_status(res.redis, row)
    try:
        sent = jobs.send_job(
            res.db, res.redis, row, max_dispatched=res.settings.max_dispatched_per_user
        )
    except redis.RedisError:
        log.warning("could not enqueue task %s; the sweeper will relay it", row["id"])
        return row
    return sent or row
