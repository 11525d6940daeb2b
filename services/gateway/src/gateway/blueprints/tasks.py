"""``/v1/tasks``: create, read, list, cancel tasks and fetch their results."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from backdrop_common import taskstore
from backdrop_common.body import json_body, load
from backdrop_common.tokens import current_principal, require_auth
from backdrop_common.webhooks import add_callback
from flask import Blueprint, Response, jsonify

from gateway import documents, schemas, taskops
from gateway.apidoc import operation
from gateway.blueprints.webhooks import safe_url
from gateway.resources import resources

bp = Blueprint("tasks", __name__)
IDEMPOTENCY_HEADER = (("Idempotency-Key", "Makes the creation safe to retry (1-255 chars)."),)


@bp.post("/v1/tasks")
@operation(
    tag="tasks",
    body=schemas.TaskCreateSchema,
    headers=IDEMPOTENCY_HEADER,
    responses={
        201: schemas.TaskCreatedSchema,
        200: schemas.TaskCreatedSchema,
        **taskops.CREATE_ERRORS,
    },
)
@require_auth()
def create_task() -> tuple[Response, int]:
    """Create a task and get its upload instructions."""
    key = taskops.idempotency_key()
    data = load(schemas.TaskCreateSchema, json_body())
    callback = data.pop("callback_url", None)
    if callback:
        safe_url(callback, "callback_url")
    task, upload, created = taskops.create(current_principal(), data, key)
    body: dict[str, Any] = {"task": task, "upload": upload}
    if callback:
        body["callback_secret"] = add_callback(resources().db, uuid.UUID(task["id"]), callback)
    return jsonify(body), 201 if created else 200


@bp.get("/v1/tasks")
@operation(
    tag="tasks",
    query=schemas.TaskListQuerySchema,
    responses={200: schemas.TaskListSchema, 400: None},
)
@require_auth()
def list_tasks() -> Response:
    """List your tasks, newest first (cursor pagination)."""
    query = taskops.load_query(schemas.TaskListQuerySchema)
    rows, next_cursor = taskstore.list_tasks(
        resources().db,
        current_principal().user_id,
        status=query.get("status"),
        limit=query["limit"],
        cursor=query.get("cursor"),
        documents=True,
    )
    # The documents as PostgreSQL wrote them, joined without parsing them (documents.document_json)
    items = b",".join(documents.document_json(row) for row in rows)
    return _json(b'{"items":[%b],"next_cursor":%b}' % (items, orjson.dumps(next_cursor)))


@bp.get("/v1/tasks/<uuid:task_id>")
@operation(tag="tasks", path=("task_id",), responses={200: schemas.TaskSchema, 404: None})
@require_auth()
def get_task(task_id: uuid.UUID) -> Response:
    """Get one task (with live progress)."""
    return _json(documents.owned_document(task_id, current_principal()))


def _json(body: bytes) -> Response:
    """An answer of JSON bytes made already (with the newline ``jsonify`` ends its bodies with)."""
    return Response(body + b"\n", mimetype="application/json")


@bp.post("/v1/tasks/<uuid:task_id>/cancel")
@operation(
    tag="tasks",
    path=("task_id",),
    responses={202: schemas.TaskEnvelopeSchema, 404: None, 409: None},
)
@require_auth()
def cancel_task(task_id: uuid.UUID) -> tuple[Response, int]:
    """Cancel a task (at once unless running; then the worker is told to stop)."""
    return jsonify(task=taskops.cancel(task_id, current_principal().user_id)), 202


@bp.get("/v1/tasks/<uuid:task_id>/result")
@operation(
    tag="tasks", path=("task_id",), responses={200: schemas.ResultSchema, 404: None, 409: None}
)
@require_auth()
def task_result(task_id: uuid.UUID) -> Response:
    """Get the result of a succeeded task, with presigned artifact URLs."""
    return jsonify(taskops.result(task_id, current_principal()))
