"""``/v1/webhooks``: endpoints that receive every terminal status of all the caller's tasks
(create, list, delete, rotate the secret, see the deliveries); ``safe_url`` also checks a
task's ``callback_url``. Sending is the sweeper's (``sweeper.webhooks``)."""

from __future__ import annotations

import uuid

from backdrop_common import webhooks
from backdrop_common.body import json_body, load
from backdrop_common.errors import NotFound, RateLimited, ValidationFailed
from backdrop_common.inputs import StrictSchema
from backdrop_common.tokens import current_principal, require_auth
from flask import Blueprint, Response, jsonify
from marshmallow import Schema, fields, validate

from gateway import taskops
from gateway.apidoc import operation
from gateway.resources import resources

bp = Blueprint("webhooks", __name__)
URL = fields.Url(
    required=True,
    schemes={"http", "https"},
    require_tld=False,
    validate=validate.Length(max=2048),
    metadata={"example": "https://example.com/backdrop-hook"},
)


class WebhookCreateSchema(StrictSchema):
    """Body of ``POST /v1/webhooks``."""

    url = URL


class WebhookSchema(Schema):
    """A registered endpoint."""

    id = fields.UUID()
    url = fields.String()
    created_at = fields.DateTime()


class WebhookCreatedSchema(Schema):
    """A new endpoint and its signing secret (shown once; rotate to get a new one)."""

    webhook = fields.Nested(WebhookSchema)
    secret = fields.String(metadata={"example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})


class WebhookListSchema(Schema):
    """The caller's endpoints."""

    items = fields.List(fields.Nested(WebhookSchema))


class SecretSchema(Schema):
    """A new signing secret."""

    secret = fields.String()


class DeliveryListSchema(Schema):
    """An endpoint's newest deliveries (50), each with its attempts."""

    items = fields.List(fields.Dict())


def safe_url(url: str, field: str = "url") -> str:
    """``url`` when webhooks may go there, else 400 naming ``field`` (see ``targets``)."""
    try:
        webhooks.check_target(url, resources().settings.webhook_allow_networks)
    except webhooks.UnsafeTarget as exc:
        raise ValidationFailed(errors={field: [str(exc)]}) from exc
    return url


@bp.post("/v1/webhooks")
@operation(
    tag="webhooks",
    body=WebhookCreateSchema,
    responses={201: WebhookCreatedSchema, 400: None, 429: None},
)
@require_auth()
def create_webhook() -> tuple[Response, int]:
    """Register an endpoint for every terminal status of all your tasks (at most 10)."""
    url = safe_url(load(WebhookCreateSchema, json_body())["url"])
    made = webhooks.create_endpoint(resources().db, current_principal().user_id, url)
    if made is None:
        raise RateLimited(f"You already have {webhooks.store.MAX_ENDPOINTS} webhooks.")
    endpoint, secret = made
    return jsonify(webhook=endpoint, secret=secret), 201


@bp.get("/v1/webhooks")
@operation(tag="webhooks", responses={200: WebhookListSchema})
@require_auth()
def list_webhooks() -> Response:
    """Your endpoints."""
    return jsonify(items=webhooks.list_endpoints(resources().db, current_principal().user_id))


@bp.delete("/v1/webhooks/<uuid:webhook_id>")
@operation(tag="webhooks", path=("webhook_id",), responses={204: None, 404: None})
@require_auth()
def delete_webhook(webhook_id: uuid.UUID) -> tuple[str, int]:
    """Remove an endpoint (its pending deliveries are dropped)."""
    if not webhooks.delete_endpoint(resources().db, current_principal().user_id, webhook_id):
        raise NotFound("No such webhook.")
    return "", 204


@bp.post("/v1/webhooks/<uuid:webhook_id>/rotate-secret")
@operation(tag="webhooks", path=("webhook_id",), responses={200: SecretSchema, 404: None})
@require_auth()
def rotate_webhook_secret(webhook_id: uuid.UUID) -> Response:
    """Replace an endpoint's signing secret; retries from now on are signed with it."""
    secret = webhooks.rotate_secret(resources().db, current_principal().user_id, webhook_id)
    if secret is None:
        raise NotFound("No such webhook.")
    return jsonify(secret=secret)


@bp.get("/v1/webhooks/<uuid:webhook_id>/deliveries")
@operation(tag="webhooks", path=("webhook_id",), responses={200: DeliveryListSchema, 404: None})
@require_auth()
def webhook_deliveries(webhook_id: uuid.UUID) -> Response:
    """An endpoint's newest deliveries with every attempt (status code, error, duration,
    the answer's first KiB)."""
    items = webhooks.deliveries(resources().db, current_principal().user_id, webhook_id)
    if items is None:
        raise NotFound("No such webhook.")
    return jsonify(items=items)


@bp.get("/v1/tasks/<uuid:task_id>/deliveries")
@operation(tag="webhooks", path=("task_id",), responses={200: DeliveryListSchema, 404: None})
@require_auth()
def task_deliveries(task_id: uuid.UUID) -> Response:
    """A task's webhook deliveries (its callback_url's and your endpoints') with every
    attempt."""
    principal = current_principal()
    taskops.owned(task_id, principal, "id")  # 404 for anyone else's task
    return jsonify(items=webhooks.task_deliveries(resources().db, principal.user_id, task_id))
