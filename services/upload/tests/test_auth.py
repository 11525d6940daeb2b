"""Every route needs a valid token and hides other users' tasks (404, never 403)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from backdrop_common import taskstore
from backdrop_testing.tokens import TokenMinter
from flask.testing import FlaskClient
from upload_service.resources import Resources

from tests.helpers import Users, task_objects

ROUTES = [
    ("post", "/internal/tasks/{}/upload-instructions"),
    ("post", "/v1/tasks/{}/upload-complete"),
    ("put", "/v1/tasks/{}/content"),
    ("post", "/task/upload/{}"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_other_users_task_is_404(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any],
    method: str, path: str,
) -> None:  # fmt: skip
    owner, _ = users.new()
    _, stranger = users.new()
    task = make_task(owner, b"hello world")
    resp = getattr(client, method)(path.format(task["id"]), data=b"hello world", headers=stranger)
    assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"
    assert resp.mimetype == "application/problem+json"
    assert taskstore.get_task(res.db, task["id"])["status"] == "awaiting_upload"
    assert task_objects(res, task) == []
    missing = getattr(client, method)(path.format(uuid.uuid4()), headers=stranger)
    assert missing.status_code == 404
    malformed = getattr(client, method)(path.format("not-a-uuid"), headers=stranger)
    assert malformed.status_code == 404


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_token_required(
    client: FlaskClient, token_minter: TokenMinter, method: str, path: str
) -> None:
    url = path.format(uuid.uuid4())
    none = getattr(client, method)(url)
    assert none.status_code == 401 and none.headers["WWW-Authenticate"].startswith("Bearer")
    expired = token_minter.mint(uuid.uuid4(), ttl=-60)
    resp = getattr(client, method)(url, headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401


def test_revoked_token(
    client: FlaskClient, token_minter: TokenMinter, res: Resources, make_task: Callable[..., Any]
) -> None:
    owner = uuid.uuid4()
    task = make_task(owner)
    token = token_minter.mint(owner, sid="s-1")
    res.redis.set("auth:revoked:sid:s-1", "1", ex=60)
    resp = client.post(
        f"/internal/tasks/{task['id']}/upload-instructions",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 401


def test_health(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"postgres": "ok", "redis": "ok", "s3": "ok"}
    assert b"backdrop_http_requests_total" in client.get("/metrics").data
