"""Seed-compatible aliases (``/auth/login``, ``/task/...``): thin shims over the v1 API.

The seed's client asks for a task without knowing the file's size: ``POST /task/request``
without ``size`` creates a task whose size is unknown, answers ``upload: null`` (a presigned
form must pin the length) and an ``upload_url`` (``POST /task/upload/<id>``) that streams the
body, raw or as the multipart form field ``file``; the size is whatever arrives, up to the
upload limit. With ``size`` a presigned form is offered too, as for ``POST /v1/tasks``.
``filename`` and ``content_type`` default to ``upload.bin`` and ``application/octet-stream``.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests
from backdrop_common.auth_schemas import LoginSchema
from backdrop_common.body import json_body, load
from backdrop_common.errors import Unavailable
from backdrop_common.tokens import current_principal, require_auth
from flask import Blueprint, Response, jsonify

from gateway import documents, seed_schemas, taskops
from gateway.apidoc import operation
from gateway.blueprints.forward import HOP_BY_HOP, outgoing_headers
from gateway.resources import public_url_for, resources

bp = Blueprint("aliases", __name__)
_NOT_COPIED = HOP_BY_HOP | {"content-length", "content-encoding", "x-request-id"}


@bp.post("/auth/login")
@operation(
    tag="seed aliases",
    auth=False,
    body=LoginSchema,
    responses={200: seed_schemas.SeedTokenSchema, 400: None, 401: None, 429: None, 503: None},
)
def seed_login() -> tuple[Response, int] | Response:
    """Seed alias of login: the v1 answer plus ``token`` (= ``access_token``)."""
    body = json_body()
    if isinstance(body, dict) and "identifier" not in body:
        # The seed sent username or email; v1 calls either one "identifier".
        ident = body.get("username") or body.get("email")
        if ident is not None:
            body = {k: v for k, v in body.items() if k not in ("username", "email")}
            body["identifier"] = ident
    settings = resources().settings
    headers = {k: v for k, v in outgoing_headers().items() if k.lower() != "content-type"}
    try:
        upstream = resources().http.post(
            f"{settings.auth_url}/v1/auth/login",
            json=body,
            headers=headers,
            allow_redirects=False,
            timeout=(settings.forward_connect_timeout_s, settings.forward_read_timeout_s),
        )
    except requests.RequestException as exc:
        raise Unavailable("The auth service is not reachable.") from exc
    copied = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _NOT_COPIED]
    if upstream.status_code == 200:
        try:
            doc: Any = upstream.json()
        except ValueError as exc:
            raise Unavailable("The auth service answered unexpectedly.") from exc
        if isinstance(doc, dict) and "access_token" in doc:
            doc["token"] = doc["access_token"]
            resp = jsonify(doc)
            resp.headers.extend([(k, v) for k, v in copied if k.lower() != "content-type"])
            return resp
    return Response(upstream.content, status=upstream.status_code, headers=copied)


@bp.post("/task/request")
@operation(
    tag="seed aliases",
    body=seed_schemas.SeedTaskRequestSchema,
    responses={
        201: seed_schemas.SeedTaskCreatedSchema,
        200: seed_schemas.SeedTaskCreatedSchema,
        **taskops.CREATE_ERRORS,
    },
)
@require_auth()
def seed_request() -> tuple[Response, int]:
    """Seed alias of task creation (``task_type`` = processor)."""
    key = taskops.idempotency_key()
    data = load(seed_schemas.SeedTaskRequestSchema, json_body())
    data["processor"] = data.pop("task_type")
    task, upload, created = taskops.create(current_principal(), data, key)
    upload_url = public_url_for("forward.seed_upload", task_id=task["id"])
    body = {
        "task_id": task["id"],
        "status": task["status"],
        "upload": upload,
        "upload_url": upload_url,
        "task": task,
    }
    return jsonify(body), 201 if created else 200


@bp.post("/task/cancel/<uuid:task_id>")
@operation(
    tag="seed aliases",
    path=("task_id",),
    responses={202: seed_schemas.SeedCancelSchema, 404: None, 409: None},
)
@require_auth()
def seed_cancel(task_id: uuid.UUID) -> tuple[Response, int]:
    """Seed alias of cancel."""
    task = taskops.cancel(task_id, current_principal().user_id)
    body = {
        "task_id": task["id"],
        "status": task["status"],
        "cancel_requested": task["cancel_requested"],
        "task": task,
    }
    return jsonify(body), 202


@bp.get("/task/status/<uuid:task_id>")
@operation(
    tag="seed aliases", path=("task_id",), responses={200: seed_schemas.SeedStatusSchema, 404: None}
)
@require_auth()
def seed_status(task_id: uuid.UUID) -> Response:
    """Seed alias of polling: status, progress fraction and a message."""
    task = documents.owned_doc(task_id, current_principal())
    error = task.get("error") or {}
    message = error.get("message") or task["progress"].get("message")
    return jsonify(
        task_id=task["id"],
        status=task["status"],
        progress=float(task["progress"]["fraction"]),
        message=message,
    )


@bp.get("/task/result/<uuid:task_id>")
@operation(
    tag="seed aliases",
    path=("task_id",),
    responses={200: seed_schemas.SeedResultSchema, 404: None, 409: None},
)
@require_auth()
def seed_result(task_id: uuid.UUID) -> Response:
    """Seed alias of the result."""
    return jsonify(taskops.result(task_id, current_principal()))
