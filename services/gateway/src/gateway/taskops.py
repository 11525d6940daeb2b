"""Task operations shared by the ``/v1`` views and the seed aliases (views stay thin)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import redis
from backdrop_common import events, jobs, taskstore
from backdrop_common.body import load
from backdrop_common.errors import (
    IdempotencyMismatch,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TaskNotSucceeded,
    Unavailable,
    ValidationFailed,
)
from backdrop_common.inputs import check_storable
from backdrop_common.redis_keys import CREATE_LOCK_PREFIX
from backdrop_common.timestamps import rfc3339
from backdrop_common.tokens import Principal
from flask import request
from marshmallow import Schema

from gateway import clients, observability
from gateway.documents import task_doc
from gateway.params import validate_params
from gateway.resources import public_url_for, resources

log = logging.getLogger(__name__)

# The error answers task creation can give, documented by both creation routes (/v1 and seed).
CREATE_ERRORS: dict[int, Any] = {400: None, 413: None, 422: None, 429: None, 503: None}
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}\Z")


def idempotency_key() -> str | None:
    """The ``Idempotency-Key`` header: absent, or 1 to 255 printable ASCII characters."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed(
            errors={"Idempotency-Key": ["Must be 1 to 255 printable ASCII characters."]}
        )
    return key


def owned(task_id: uuid.UUID | str, principal: Principal, columns: str = "*") -> taskstore.TaskRow:
    """The caller's task (``columns`` of it), or 404 (also when it belongs to someone else)."""
    return taskstore.get_owned_task(resources().db, task_id, principal.user_id, columns=columns)


def create(
    principal: Principal, data: dict[str, Any], key: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
    """Validate and create a task; returns ``(task, upload, created)``."""
    res = resources()
    settings = res.settings
    check_storable(data["params"], "params")
    params = validate_params(res.redis, data["processor"], data["params"])
    if data["size"] is not None and data["size"] > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"The declared size exceeds your upload limit of {settings.max_upload_bytes} bytes."
        )
    fields = {
        "processor": data["processor"],
        "params": params,
        "filename": data["filename"],
        "size": data["size"],
        "content_type": data["content_type"],
        "sha256": data["sha256"].lower() if data.get("sha256") else None,
    }
    # The hash of the normalised request (defaults filled, keys sorted): a replay with the
    # same meaning matches even if the JSON was spelled differently.
    request_hash = hashlib.sha256(
        json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    existing = _replay(principal, key)
    # One creation at a time per user: check-then-insert raced (40 parallel creates made 31
    # tasks against a cap of 20). A replay neither counts nor waits.
    with _creation_lock(principal) if existing is None else contextlib.nullcontext():
        if existing is None:
            _check_quota(principal, int(fields["size"] or 0))
        row, created = taskstore.create_task(
            res.db,
            owner_id=principal.user_id,
            idempotency_key=key,
            request_hash=request_hash,
            upload_window_s=settings.upload_window_s,
            **fields,
        )
    if not created and row.get("request_hash") != request_hash:
        raise IdempotencyMismatch("This Idempotency-Key was already used with another request.")
    if created:
        observability.TASKS_CREATED.labels(row["processor"]).inc()
        events.publish_status(res.redis, row)
    upload = None
    # A task of unknown size (a seed request) can only be streamed: no presigned form.
    if row["status"] == "awaiting_upload" and row["size"] is not None:
        upload = clients.upload_instructions(row["id"], principal.token)
    if upload is not None:
        # The upload service knows the configured public URL; failing that, clients reach
        # Backdrop through this gateway, so the streaming fallback is ours.
        upload.setdefault("stream_url", public_url_for("forward.upload_content", task_id=row["id"]))
    return taskstore.task_json(row), upload, created


def _replay(principal: Principal, key: str | None) -> taskstore.TaskRow | None:
    """The task an earlier request with ``key`` created, if any (a replay skips the cap)."""
    if key is None:
        return None
    return taskstore.get_task_by_idempotency_key(resources().db, principal.user_id, key)


@contextlib.contextmanager
def _creation_lock(principal: Principal) -> Iterator[None]:
    """Hold the caller's task-creation lock (Redis, shared by every gateway process) while
    the quota is checked and the task inserted; 503 if it cannot be had."""
    lock = resources().redis.lock(
        f"{CREATE_LOCK_PREFIX}{principal.user_id}", timeout=30, blocking_timeout=10
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        raise Unavailable("Tasks cannot be created right now.") from exc
    if not acquired:
        raise Unavailable("Too many task creations at once; try again.")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.RedisError:
            log.warning("could not release the creation lock of %s", principal.user_id)


def _check_quota(principal: Principal, size: int) -> None:
    """429 when the caller already has the allowed number of unfinished tasks, or the new
    task's bytes would take its upload permission past the per-user byte quota. Called under
    ``_creation_lock``, so racing creates cannot both pass."""
    res = resources()
    settings = res.settings
    if taskstore.count_unfinished(res.db, principal.user_id) >= settings.max_unfinished_tasks:
        raise RateLimited(
            f"You already have {settings.max_unfinished_tasks} unfinished tasks; "
            "wait for some to finish or cancel them.",
            retry_after=settings.quota_retry_after_s,
        )
    pending = taskstore.awaiting_upload_bytes(res.db, principal.user_id)
    if pending + size > settings.max_awaiting_upload_bytes:
        raise RateLimited(
            f"Your tasks awaiting upload already declare {pending} bytes of the "
            f"{settings.max_awaiting_upload_bytes} allowed (a task cancelled before its "
            "upload counts until its upload window closes); upload or wait.",
            retry_after=settings.quota_retry_after_s,
        )


def load_query(schema_class: type[Schema]) -> dict[str, Any]:
    """The query string loaded by ``schema_class`` (``_query_args``, then ``load``: a bad value
    is a 400), for a schema whose answer depends on the query string alone.

    What loads is remembered per schema and raw query string (the last 1,024): parsing and
    loading cost a task list 9 % of its CPU in the gateway, and clients ask for the same
    query again and again (a page polled with ``?limit=20``). A refused query is refused
    again each time."""
    return dict(_loaded(schema_class, request.query_string))


@functools.lru_cache(maxsize=1024)
def _loaded(schema_class: type[Schema], query_string: bytes) -> Mapping[str, Any]:
    # ``request.args`` is parsed from ``request.query_string``, the key: the answer depends
    # on the key alone. Kept read-only: each caller gets a copy (``load_query``).
    del query_string
    return MappingProxyType(load(schema_class, _query_args()))


def _query_args() -> dict[str, str]:
    """The query string for a schema: an empty value (``?status=``) means "not given", as
    clients build such URLs; of repeated names the first non-empty value counts, so
    ``?=&=x`` still meets the schema (and its unknown-name 400) instead of slipping through
    as an empty first value."""
    args: dict[str, str] = {}
    for name, values in request.args.lists():
        given = [value for value in values if value != ""]
        if given:
            args[name] = given[0]
    return args


def cancel(task_id: uuid.UUID | str, owner_id: uuid.UUID | None) -> dict[str, Any]:
    """Cancel (queued/awaiting) or request cancellation (running); 409 when finished.

    ``owner_id`` scopes it to the owner's tasks (404 otherwise); None is an operator's cancel.
    """
    res = resources()
    row = taskstore.request_cancel(res.db, task_id, owner_id)
    if row is None:
        raise NotFound("No such task.")
    # The event first: a stream opened after the commit waits for it only briefly
    # (``feed._final_event_id``), and the S3 and admission work below can take longer.
    events.publish_status(res.redis, row)
    if row["status"] == "cancelled" and row["queued_at"] is None:
        _withdraw_upload(row)
    if row["status"] == "cancelled" and row.get("dispatched_at") is not None:
        _release_slot(row)
    if row["status"] == "running":
        try:
            events.signal_cancel(res.redis, row["id"])
        except redis.RedisError:
            # cancel_requested is committed; the worker also sees it when it renews its lease.
            log.warning("could not signal cancellation of task %s", row["id"])
    return task_doc(row)


def _release_slot(row: taskstore.TaskRow) -> None:
    """A dispatched task was cancelled before a worker took it: send the owner's next held
    job (best effort: the sweeper sends it within a sweep otherwise)."""
    res = resources()
    try:
        jobs.release_slot(
            res.db, res.redis, row["owner_id"], max_dispatched=res.settings.max_dispatched_per_user
        )
    except (redis.RedisError, Unavailable):
        log.warning("could not send the next job of the owner of task %s", row["id"])


def _withdraw_upload(row: taskstore.TaskRow) -> None:
    """A task cancelled before its upload: its part URLs stop working and what was uploaded
    goes now; what its still-valid POST form writes later, the sweeper deletes."""
    try:
        resources().storage.discard_upload(row["object_key"], row.get("multipart_upload_id"))
    except Exception:  # the sweeper sweeps the input key once the upload window closes
        log.warning("could not withdraw the upload of cancelled task %s", row["id"], exc_info=True)


def result(task_id: uuid.UUID | str, principal: Principal) -> dict[str, Any]:
    """The result and presigned artifact URLs of a succeeded task; 409 otherwise."""
    res = resources()
    row = owned(task_id, principal)
    if row["status"] != "succeeded":
        raise TaskNotSucceeded(f"The task is {row['status']}; only a succeeded task has a result.")
    ttl = res.settings.result_url_ttl_s
    expires_at = rfc3339(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl))
    artifacts = [
        {
            "name": art["name"],
            "size": art.get("size"),
            "content_type": art.get("content_type"),
            "url": res.storage.presigned_get(art["key"], ttl, filename=art["name"]),
            "expires_at": expires_at,
        }
        for art in (row.get("artifacts") or [])
    ]
    return {"task_id": str(row["id"]), "result": row.get("result"), "artifacts": artifacts}
