"""Another user's task is a 404 everywhere (never 403), and error bodies leak nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, succeed

LEAKS = ("Traceback", "psycopg2", "127.0.0.1", "localhost", "SELECT", 'File "')


def assert_clean(resp: Any) -> None:
    """A problem+json body that names nothing internal."""
    assert resp.mimetype == "application/problem+json", resp.mimetype
    text = resp.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in text, (leak, text)
    doc = resp.get_json()
    assert {"type", "title", "status", "detail", "code"} <= set(doc)
    assert doc["type"] == f"urn:backdrop:problem:{doc['code']}"
    assert doc["status"] == resp.status_code


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/tasks/{id}"),
        ("POST", "/v1/tasks/{id}/cancel"),
        ("GET", "/v1/tasks/{id}/result"),
        ("GET", "/v1/tasks/{id}/events"),
        ("POST", "/v1/tasks/{id}/upload-complete"),
        ("PUT", "/v1/tasks/{id}/content"),
        ("POST", "/task/upload/{id}"),
        ("POST", "/task/cancel/{id}"),
        ("GET", "/task/status/{id}"),
        ("GET", "/task/result/{id}"),
    ],
)
def test_other_users_task_is_404(api: Any, make_api: Any, db: Any, method: str, path: str) -> None:
    task = api.new_task()
    if path.endswith("result"):
        succeed(db, task["id"], {"secret": 1}, [])
    intruder = make_api()
    resp = intruder.call(method, path.format(id=task["id"]), data=b"stolen bytes")
    assert resp.status_code == 404, resp.get_data(as_text=True)
    assert_clean(resp)
    owner_view = api.get(f"/v1/tasks/{task['id']}").get_json()
    assert owner_view["status"] in ("awaiting_upload", "succeeded")
    assert owner_view["cancel_requested"] is False
    listed = intruder.get("/v1/tasks").get_json()["items"]
    assert listed == []


def test_error_bodies_leak_nothing(api: Any, make_app: Any, token_minter: Any) -> None:
    responses = [
        api.get("/v1/tasks/not-a-uuid"),
        api.post("/v1/tasks", data=b"{bad json", content_type="application/json"),
        api.post("/v1/tasks", data=b"{}", content_type="text/plain"),
        api.create(size=-5),
        api.create(processor="'; DROP TABLE x; --"),
        api.get("/v1/tasks?cursor=%27%3B--"),
        api.get("/v1/nothing"),
        api.call("DELETE", "/v1/tasks"),
        api.get("/v1/tasks", headers={"Authorization": "Bearer x.y.z"}),
    ]
    no_upload = Api(make_app(upload_url="http://127.0.0.1:9").test_client(), token_minter)
    no_auth = Api(make_app(auth_url="http://127.0.0.1:9").test_client(), token_minter)
    responses += [
        no_upload.create(),
        no_auth.post("/v1/auth/login", json={"identifier": "a", "password": "b"}),
        no_auth.get("/.well-known/jwks.json"),
        no_auth.get("/v1/tasks"),  # the token cannot be checked without the JWKS
    ]
    for resp in responses:
        assert 400 <= resp.status_code < 600
        assert_clean(resp)
    assert [r.status_code for r in responses[-4:]] == [503, 503, 503, 503]
