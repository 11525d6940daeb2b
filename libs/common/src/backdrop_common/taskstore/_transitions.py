"""State transitions: each one guarded, so a duplicate or a racing call changes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg2.extras import Json

from backdrop_common.db import Database
from backdrop_common.errors import NotFound, TaskFinished
from backdrop_common.taskstore._queries import get_task
from backdrop_common.taskstore._sql import TaskId, TaskRow, as_uuid, fetch_one, guarded_update

_HOLDER = "status = 'running' AND worker_id = %(w)s"  # only the lease holder may finish
_LEASE = "make_interval(secs => %(lease)s)"
_NOW = """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
# Appends the current attempt's error to the history shown as ``attempt_errors``.
_LOG_ATTEMPT = (
    "attempt_errors = attempt_errors || jsonb_build_array(jsonb_build_object("
    f"'attempt', attempts, 'code', %(ac)s::text, 'message', %(am)s::text, 'at', {_NOW}))"
)
WORKER_LOST = ("worker_lost", "The worker running this attempt stopped (its lease lapsed).")


def set_multipart_upload(db: Database, task_id: TaskId, upload_id: str) -> TaskRow | None:
    """Record the multipart upload of an ``awaiting_upload`` task that has none yet."""
    return guarded_update(
        db,
        task_id,
        "multipart_upload_id = %(u)s",
        "status = 'awaiting_upload' AND multipart_upload_id IS NULL",
        u=upload_id,
    )


def clear_multipart_upload(db: Database, task_id: TaskId) -> TaskRow | None:
    """Forget the multipart upload of an ``awaiting_upload`` task (completed or aborted)."""
    return guarded_update(db, task_id, "multipart_upload_id = NULL", "status = 'awaiting_upload'")


def mark_queued(
    db: Database,
    task_id: TaskId,
    *,
    multipart_upload_id: str | None = None,
    object_key: str | None = None,
    size: int | None = None,
) -> TaskRow | None:
    """``awaiting_upload → queued`` (upload verified); the XADD is confirmed separately.

    ``object_key`` replaces the input key by the key of the verified copy, the bytes the
    worker will process; ``size`` is recorded only when the task had none (a size-less
    seed request).
    """
    return guarded_update(
        db,
        task_id,
        "status = 'queued', queued_at = now(), enqueued_at = NULL, next_attempt_at = NULL,"
        " dispatched_at = NULL, multipart_upload_id = coalesce(%(u)s, multipart_upload_id),"
        " object_key = coalesce(%(k)s, object_key), size = coalesce(size, %(size)s)",
        "status = 'awaiting_upload'",
        u=multipart_upload_id,
        k=object_key,
        size=size,
    )


def mark_enqueued(db: Database, task_id: TaskId, entry_id: str | None = None) -> TaskRow | None:
    """Record that the job is on its stream (the outbox confirmation), as entry ``entry_id``.

    Without ``entry_id`` the last recorded entry is kept: the sweeper calls it so to note
    that it found that entry still on the stream.
    """
    return guarded_update(
        db,
        task_id,
        "enqueued_at = now(), stream_entry_id = coalesce(%(e)s, stream_entry_id)",
        "status IN ('queued', 'running')",
        e=entry_id,
    )


def claim(db: Database, task_id: TaskId, worker_id: str, lease_s: float) -> TaskRow | None:
    """``queued → running`` (or ``running`` with a lapsed lease → ours), ``attempts + 1``.

    A queued task whose retry time has not come yet is not claimable (early duplicates of
    its stream entry must not skip the backoff). Progress starts again from zero: a new
    attempt must not show the previous attempt's progress. Taking over a lapsed lease
    records the previous attempt's error as ``worker_lost``.
    """
    return guarded_update(
        db,
        task_id,
        f"status = 'running', worker_id = %(w)s, attempts = attempts + 1, started_at = now(),"
        f" lease_until = now() + {_LEASE}, next_attempt_at = NULL, progress_fraction = 0,"
        " progress_stage = NULL, progress_message = NULL, progress_updated_at = now(),"
        " attempt_errors = CASE WHEN status = 'running' THEN"
        " attempt_errors || jsonb_build_array(jsonb_build_object('attempt', attempts,"
        f" 'code', %(ac)s::text, 'message', %(am)s::text, 'at', {_NOW}))"
        " ELSE attempt_errors END",
        "((status = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= now()))"
        " OR (status = 'running' AND lease_until < now()))",
        w=worker_id,
        lease=float(lease_s),
        ac=WORKER_LOST[0],
        am=WORKER_LOST[1],
    )


def extend_lease(db: Database, task_id: TaskId, worker_id: str, lease_s: float) -> TaskRow | None:
    """Renew the lease; the row (the holder reads ``cancel_requested`` from it: a cancel
    whose Redis signal was lost still reaches the worker), or None when the task is no
    longer ours (or not running)."""
    return guarded_update(
        db, task_id, f"lease_until = now() + {_LEASE}", _HOLDER, w=worker_id, lease=float(lease_s)
    )


def save_progress(
    db: Database,
    task_id: TaskId,
    worker_id: str,
    fraction: float,
    stage: str | None,
    message: str | None,
) -> TaskRow | None:
    """Persist progress (the caller throttles); ``fraction`` is clamped to 0..1."""
    return guarded_update(
        db,
        task_id,
        "progress_fraction = %(f)s, progress_stage = %(s)s, progress_message = %(m)s,"
        " progress_updated_at = now()",
        _HOLDER,
        w=worker_id,
        f=min(1.0, max(0.0, float(fraction))),
        s=stage,
        m=message,
    )


def mark_succeeded(
    db: Database,
    task_id: TaskId,
    worker_id: str,
    result: Any,
    artifacts: Sequence[Mapping[str, Any]] = (),
) -> TaskRow | None:
    """``running → succeeded`` (lease holder only); ``artifacts`` = ``[{name, key, size,
    content_type}]``. None also when a cancel was accepted meanwhile: a task whose cancel
    was accepted never ends ``succeeded`` (the worker then calls ``mark_cancelled``)."""
    return guarded_update(
        db,
        task_id,
        "status = 'succeeded', result = %(r)s, artifacts = %(a)s, finished_at = now(),"
        " lease_until = NULL, progress_fraction = 1, progress_updated_at = now(),"
        " error_code = NULL, error_message = NULL",
        f"{_HOLDER} AND NOT cancel_requested",
        w=worker_id,
        r=Json(result),
        a=Json([dict(a) for a in artifacts]),
    )


def mark_failed(
    db: Database,
    task_id: TaskId,
    worker_id: str,
    code: str,
    message: str,
    *,
    attempt_error: tuple[str, str] | None = None,
) -> TaskRow | None:
    """``running → failed`` (lease holder only), recording the error.

    The attempt's own error (``attempt_error``, default ``(code, message)``) joins the
    history; for ``retries_exhausted`` it is the last attempt's real cause.
    """
    ac, am = attempt_error or (code, message)
    return guarded_update(
        db,
        task_id,
        "status = 'failed', error_code = %(c)s, error_message = %(m)s, finished_at = now(),"
        f" lease_until = NULL, {_LOG_ATTEMPT}",
        _HOLDER,
        w=worker_id,
        c=code,
        m=message,
        ac=ac,
        am=am,
    )


def requeue(
    db: Database,
    task_id: TaskId,
    worker_id: str,
    *,
    delay_s: float = 0.0,
    error: tuple[str, str] | Mapping[str, str] | None = None,
    refund_attempt: bool = False,
) -> TaskRow | None:
    """``running → queued``: a retry after ``delay_s`` (``next_attempt_at``), or a hand-back.

    ``error`` = ``(code, message)`` or ``{code, message}`` records why (shown in ``error``
    and appended to ``attempt_errors``); ``refund_attempt=True`` for a hand-back on
    shutdown, which should not count as a try.
    The relay sends the job once ``next_attempt_at`` has come (or the caller XADDs and
    calls ``mark_enqueued``).
    """
    code = message = None
    if isinstance(error, Mapping):
        code, message = error.get("code"), error.get("message")
    elif error is not None:
        code, message = error
    history = f", {_LOG_ATTEMPT}" if code is not None and not refund_attempt else ""
    return guarded_update(
        db,
        task_id,
        "status = 'queued', worker_id = NULL, lease_until = NULL, queued_at = now(),"
        " enqueued_at = NULL, dispatched_at = NULL,"
        " next_attempt_at = now() + make_interval(secs => %(d)s),"
        " attempts = greatest(0, attempts - %(refund)s),"
        " error_code = coalesce(%(c)s, error_code), error_message = coalesce(%(m)s, error_message)"
        + history,
        _HOLDER,
        w=worker_id,
        d=max(0.0, float(delay_s)),
        refund=1 if refund_attempt else 0,
        c=code,
        m=message,
        ac=code,
        am=message,
    )


def mark_cancelled(
    db: Database, task_id: TaskId, worker_id: str | None = None, *, reason: str | None = None
) -> TaskRow | None:
    """``running → cancelled`` (by the worker; ``worker_id`` guards when given).

    ``reason`` (e.g. "killed after the cancel deadline") is recorded as error ``cancelled``.
    """
    guard = "status = 'running'" + (" AND worker_id = %(w)s" if worker_id is not None else "")
    sets = "status = 'cancelled', cancel_requested = true, finished_at = now(), lease_until = NULL"
    if reason is not None:
        sets += ", error_code = 'cancelled', error_message = %(reason)s"
    return guarded_update(db, task_id, sets, guard, w=worker_id, reason=reason)


def request_cancel(db: Database, task_id: TaskId, owner_id: TaskId | None) -> TaskRow:
    """Cancel on the owner's behalf (``owner_id=None``: any owner, for admins).

    ``awaiting_upload``/``queued`` → ``cancelled`` at once; ``running`` → ``cancel_requested``
    (the worker stops and calls ``mark_cancelled``); terminal → ``TaskFinished``; not found
    or another owner's → ``NotFound``.
    """
    tid = as_uuid(task_id)
    owner_guard = "" if owner_id is None else "AND owner_id = %(owner)s"
    query = f"""UPDATE tasks.tasks SET cancel_requested = true, updated_at = now(),
                   status = CASE WHEN status = 'running' THEN status ELSE 'cancelled' END,
                   finished_at = CASE WHEN status = 'running' THEN NULL ELSE now() END
               WHERE id = %(id)s AND status IN ('awaiting_upload', 'queued', 'running')
               {owner_guard} RETURNING *"""  # noqa: S608 - owner_guard is a literal
    row = None
    if tid is not None:
        row = fetch_one(db, query, {"id": tid, "owner": as_uuid(owner_id)})
    if row is not None:
        return row
    current = get_task(db, task_id, owner_id)
    if current is None:
        raise NotFound("No such task.")
    raise TaskFinished(f"The task is already {current['status']}.")
