"""``/v1/admin/tasks`` and ``/v1/admin/dead-letters``: every owner's tasks, for operators.

Operators search tasks across users, read any one with its attempts' errors, and retry or
cancel a selection. A retried task goes back to ``queued`` with a fresh attempt budget and
the sweeper sends its job at its next pass; a cancel behaves as the owner's own would.
"""

from __future__ import annotations

import uuid
from typing import Any

from backdrop_common import events, taskstore
from backdrop_common.body import json_body, load
from backdrop_common.errors import NotFound, TaskFinished
from backdrop_common.tokens import current_principal, require_auth
from flask import Blueprint, Response, jsonify

from gateway import admin_schemas as schemas
from gateway import documents, taskops
from gateway.apidoc import operation
from gateway.resources import resources

bp = Blueprint("admin_tasks", __name__)


def admin_doc(row: taskstore.TaskRow) -> dict[str, Any]:
    """The ``Task`` document plus what operators need: owner, worker, attempts' errors."""
    doc = documents.task_doc(row)
    doc["owner_id"] = str(row["owner_id"])
    doc["worker_id"] = row.get("worker_id")
    doc["attempt_errors"] = list(row.get("attempt_errors") or [])
    return doc


def _page(rows: list[taskstore.TaskRow], next_cursor: str | None) -> Response:
    return jsonify(items=[admin_doc(r) for r in rows], next_cursor=next_cursor)


@bp.get("/v1/admin/tasks")
@operation(
    tag="admin",
    query=schemas.AdminTaskQuerySchema,
    responses={200: schemas.AdminTaskListSchema, 400: None, 403: None},
)
@require_auth("operator")
def search() -> Response:
    """Every owner's tasks, newest first, filtered by status, processor, owner and time."""
    query = taskops.load_query(schemas.AdminTaskQuerySchema)
    return _page(*taskstore.search_tasks(resources().db, **query))


@bp.get("/v1/admin/tasks/<uuid:task_id>")
@operation(
    tag="admin", path=("task_id",), responses={200: schemas.AdminTaskSchema, 403: None, 404: None}
)
@require_auth("operator")
def get_any_task(task_id: uuid.UUID) -> Response:
    """Any owner's task, with its owner, worker and the errors of its attempts."""
    row = taskstore.get_task(resources().db, task_id)
    if row is None:
        raise NotFound("No such task.")
    return jsonify(admin_doc(row))


@bp.get("/v1/admin/dead-letters")
@operation(
    tag="admin",
    query=schemas.DeadLetterQuerySchema,
    responses={200: schemas.AdminTaskListSchema, 400: None, 403: None},
)
@require_auth("operator")
def dead_letters() -> Response:
    """Dead letters: tasks failed after their last attempt, most recent first, with the
    errors of their attempts (retry them; every failed task: ``/v1/admin/tasks?status=failed``)."""
    query = taskops.load_query(schemas.DeadLetterQuerySchema)
    return _page(*taskstore.list_dead_letters(resources().db, **query))


def _retry(task_id: uuid.UUID) -> dict[str, Any]:
    res = resources()
    row = taskstore.retry_failed(res.db, task_id)
    if row is None:
        current = taskstore.get_task(res.db, task_id)
        outcome = "not_found" if current is None else "not_failed"
        return {"id": str(task_id), "outcome": outcome, "task": current and admin_doc(current)}
    events.publish_status(res.redis, row)
    return {"id": str(task_id), "outcome": "retried", "task": admin_doc(row)}


def _cancel(task_id: uuid.UUID) -> dict[str, Any]:
    try:
        taskops.cancel(task_id, None)
    except NotFound:
        return {"id": str(task_id), "outcome": "not_found", "task": None}
    except TaskFinished:
        row = taskstore.get_task(resources().db, task_id)
        return {"id": str(task_id), "outcome": "finished", "task": row and admin_doc(row)}
    row = taskstore.get_task(resources().db, task_id)
    assert row is not None  # it was just cancelled; tasks are never deleted
    outcome = "cancel_requested" if row["status"] == "running" else "cancelled"
    return {"id": str(task_id), "outcome": outcome, "task": admin_doc(row)}


def _bulk(action: Any, name: str) -> Response:
    ids = load(schemas.BulkSchema, json_body())["ids"]
    results = [action(task_id) for task_id in dict.fromkeys(ids)]
    taskops.log.info(
        "operator %s", name, extra={"by": str(current_principal().user_id), "tasks": len(ids)}
    )
    return jsonify(results=results)


@bp.post("/v1/admin/tasks/retry")
@operation(
    tag="admin",
    body=schemas.BulkSchema,
    responses={200: schemas.BulkResultSchema, 400: None, 403: None},
)
@require_auth("operator")
def bulk_retry() -> Response:
    """Send failed tasks back to the queue with a fresh attempt budget (any owner's)."""
    return _bulk(_retry, "retry")


@bp.post("/v1/admin/tasks/cancel")
@operation(
    tag="admin",
    body=schemas.BulkSchema,
    responses={200: schemas.BulkResultSchema, 400: None, 403: None},
)
@require_auth("operator")
def bulk_cancel() -> Response:
    """Cancel tasks (any owner's): at once unless running, else the worker is told to stop."""
    return _bulk(_cancel, "cancel")
