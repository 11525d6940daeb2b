"""Forwarding to auth and upload: streamed, status and headers kept, hop-by-hop dropped."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, Response

from tests.helpers import Api, stub_auth_app


@pytest.fixture
def auth_stub(live_server: Any, token_minter: Any) -> Any:
    calls: list[dict[str, Any]] = []
    server = live_server(stub_auth_app(calls, token_minter.jwks))
    server.calls = calls
    return server


@pytest.fixture
def via_stubs(make_app: Any, auth_stub: Any, upload_stub: Any) -> Flask:
    """A gateway forwarding to the auth stub and the echoing upload stub."""
    return make_app(auth_url=auth_stub.url, upload_url=upload_stub.url)


def test_auth_requests_are_relayed_verbatim(via_stubs: Flask, auth_stub: Any) -> None:
    client = via_stubs.test_client()
    resp = client.delete(
        "/v1/auth/sessions/abc?x=1&y=%20",
        headers={
            "Authorization": "Bearer tok",
            "X-Request-ID": "req-123",
            "X-Forwarded-For": "6.6.6.6",
            "Proxy-Authorization": "secret",
        },
    )
    assert resp.status_code == 418
    assert resp.headers["X-Custom"] == "kept"
    assert resp.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert "Keep-Alive" not in resp.headers
    # The body is relayed as sent (still gzip), with its own Content-Encoding.
    assert resp.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(resp.get_data())) == {"path": "sessions/abc"}
    assert resp.headers["X-Request-ID"] == "req-123"
    (call,) = auth_stub.calls
    assert call["path"] == "/v1/auth/sessions/abc?x=1&y=%20"
    headers = call["headers"]
    assert headers["Authorization"] == "Bearer tok"
    assert headers["X-Request-Id"] == "req-123"
    assert headers["X-Forwarded-For"] == "127.0.0.1"  # the peer, not the spoofed value
    assert "Proxy-Authorization" not in headers


def test_auth_login_body_and_error_status_pass_through(via_stubs: Flask) -> None:
    client = via_stubs.test_client()
    ok = client.post("/v1/auth/login", json={"identifier": "u", "password": "right"})
    assert ok.status_code == 200 and ok.get_json()["access_token"] == "AT"
    bad = client.post("/v1/auth/login", json={"identifier": "u", "password": "wrong"})
    assert bad.status_code == 401
    assert bad.mimetype == "application/problem+json"
    assert bad.headers["WWW-Authenticate"] == "Bearer"


def test_jwks_is_forwarded(via_stubs: Flask) -> None:
    resp = via_stubs.test_client().get("/.well-known/jwks.json")
    assert resp.status_code == 200 and resp.get_json()["keys"][0]["kid"] == "test-key-1"


def test_an_empty_key_set_is_503_not_500(make_app: Any, live_server: Any, api: Any) -> None:
    server = live_server(stub_auth_app([], {"keys": []}))
    client = make_app(auth_url=server.url).test_client()
    resp = client.get("/v1/tasks", headers=api.headers)
    assert resp.status_code == 503 and resp.get_json()["code"] == "unavailable"


@pytest.mark.parametrize("path", ["..%2Finternal", "a/../../internal", "a//b", "%2e%2e/x"])
def test_auth_path_cannot_escape(via_stubs: Flask, auth_stub: Any, path: str) -> None:
    resp = via_stubs.test_client().get(f"/v1/auth/{path}")
    assert resp.status_code == 404
    assert auth_stub.calls == []


@pytest.mark.parametrize(
    "path",
    [
        "/internal/tasks/{id}/upload-instructions",
        "/v1/tasks/{id}/../../internal/tasks/{id}/upload-instructions",
        "/v1/auth/..%2F..%2Finternal/tasks/{id}/upload-instructions",
        "/task/upload/{id}/../../internal/tasks/{id}/upload-instructions",
    ],
)
def test_internal_upload_route_is_not_public(
    via_stubs: Flask, auth_stub: Any, upload_stub: Any, api: Api, path: str
) -> None:
    task_id = "5c471300-ab7f-4240-9eae-061dc2fba860"
    resp = via_stubs.test_client().post(path.format(id=task_id), headers=api.headers)
    assert resp.status_code in (404, 405), resp.status_code
    assert resp.mimetype == "application/problem+json"
    assert auth_stub.calls == [] and upload_stub.calls == []


def test_auth_options_answer_is_auths_own(via_stubs: Flask) -> None:
    # Found by fuzzing: Flask answered OPTIONS itself, advertising the catch-all's
    # PUT/PATCH in Allow; auth knows which methods its route takes.
    resp = via_stubs.test_client().options("/v1/auth/sessions/abc")
    assert resp.status_code == 200
    allowed = {m.strip() for m in resp.headers["Allow"].split(",")}
    assert allowed == {"GET", "HEAD", "OPTIONS", "POST", "DELETE"}


def test_only_headers_upstreams_read_are_forwarded(via_stubs: Flask, auth_stub: Any) -> None:
    client = via_stubs.test_client()
    sent = {
        "Authorization": "Bearer tok",
        "User-Agent": "cli/1.0",
        "Accept": "application/json",
        "X-Real-IP": "6.6.6.6",
        "Forwarded": "for=6.6.6.6",
        "X-Forwarded-Host": "evil.example",
        "X-Original-URL": "/internal/tasks",
        "Cookie": "session=1",
    }
    sent |= {f"X-Junk-{i}": "1" for i in range(95)}  # auth's server takes 100 at most
    client.get("/v1/auth/sessions/abc", headers=sent)
    (call,) = auth_stub.calls
    got = {name.lower(): value for name, value in call["headers"].items()}
    assert got["authorization"] == "Bearer tok" and got["user-agent"] == "cli/1.0"
    assert got["accept"] == "application/json"
    assert got["x-forwarded-for"] == "127.0.0.1" and "x-forwarded-host" not in got
    for dropped in ("x-real-ip", "forwarded", "x-original-url", "cookie", "x-junk-0"):
        assert dropped not in got, dropped


def html_error_app() -> Flask:
    """An upstream whose HTTP server refuses requests with HTML pages (as gunicorn does)."""
    app = Flask("html-errors")

    @app.route("/v1/auth/<int:status>", methods=["GET"])
    def refuse(status: int) -> Response:
        return Response("<html>Bad Request at 10.0.0.7</html>", status=status, mimetype="text/html")

    return app


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, 400), (431, 400), (414, 400), (404, 404), (413, 413), (502, 503)],
)
def test_upstream_html_errors_become_problems(
    make_app: Any, live_server: Any, status: int, expected: int
) -> None:
    server = live_server(html_error_app())
    resp = make_app(auth_url=server.url).test_client().get(f"/v1/auth/{status}")
    assert resp.status_code == expected
    assert resp.mimetype == "application/problem+json"
    doc = resp.get_json()
    assert doc["status"] == expected and "10.0.0.7" not in resp.get_data(as_text=True)


def test_auth_down_is_503(make_app: Any) -> None:
    client = make_app(auth_url="http://127.0.0.1:9").test_client()
    for resp in (
        client.post("/v1/auth/login", json={"identifier": "a", "password": "b"}),
        client.get("/v1/auth/me"),
        client.get("/.well-known/jwks.json"),
    ):
        assert resp.status_code == 503
        assert resp.mimetype == "application/problem+json"
        assert resp.get_json()["code"] == "unavailable"
        assert "127.0.0.1" not in resp.get_data(as_text=True)


def test_content_upload_is_streamed_past_the_json_cap(
    via_stubs: Flask, token_minter: Any, upload_stub: Any
) -> None:
    user = Api(via_stubs.test_client(), token_minter)
    task = user.new_task()
    data = os.urandom(3 * 1024 * 1024 + 5)  # bigger than the 1 MiB JSON body cap
    resp = user.call("PUT", f"/v1/tasks/{task['id']}/content", data=data)
    assert resp.status_code == 202
    assert resp.headers["X-Upstream"] == "upload"
    echo = resp.get_json()["echo"]
    assert echo["size"] == len(data)
    assert echo["sha256"] == hashlib.sha256(data).hexdigest()
    assert echo["headers"]["Content-Length"] == str(len(data))
    assert echo["headers"]["Authorization"] == f"Bearer {user.token}"
    assert "Transfer-Encoding" not in echo["headers"]


def test_upload_complete_keeps_the_json_cap(via_stubs: Flask, token_minter: Any) -> None:
    user = Api(via_stubs.test_client(), token_minter)
    task = user.new_task()
    big = json.dumps({"parts": [{"part_number": 1, "etag": "x" * 2_000_000}]})
    resp = user.post(f"/v1/tasks/{task['id']}/upload-complete", data=big)
    assert resp.status_code == 413
    ok = user.post(f"/v1/tasks/{task['id']}/upload-complete", json={})
    assert ok.status_code == 202 and ok.get_json()["echo"]["path"].endswith("/upload-complete")


def test_chunked_upload_through_a_real_server(
    via_stubs: Flask, live_server: Any, token_minter: Any
) -> None:
    server = live_server(via_stubs)
    token = token_minter.mint()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"processor": "checksum", "filename": "a", "size": 5, "content_type": "text/plain"}
    created = requests.post(f"{server.url}/v1/tasks", json=body, headers=headers, timeout=10)
    assert created.status_code == 201
    task_id = created.json()["task"]["id"]
    pieces = [os.urandom(100_000) for _ in range(20)]

    def chunks() -> Iterator[bytes]:
        yield from pieces

    resp = requests.put(
        f"{server.url}/v1/tasks/{task_id}/content", data=chunks(), headers=headers, timeout=30
    )
    assert resp.status_code == 202, resp.text
    echo = resp.json()["echo"]
    assert echo["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_real_upload_service_queues_the_task(api: Any) -> None:
    data = b"hello, backdrop"
    task = api.new_task(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    resp = api.call("PUT", f"/v1/tasks/{task['id']}/content", data=data)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json()["task"]["status"] == "queued"
    assert api.get(f"/v1/tasks/{task['id']}").get_json()["status"] == "queued"
    # Upstream's own errors come through with their status and problem document.
    empty = api.new_task(size=10)
    missing = api.post(f"/v1/tasks/{empty['id']}/upload-complete", json={})
    assert missing.status_code == 422, missing.get_data(as_text=True)
    assert missing.mimetype == "application/problem+json"
    assert missing.get_json()["code"] == "upload_invalid"


def test_upload_down_is_503(make_app: Any, token_minter: Any, db: Any) -> None:
    from backdrop_common import taskstore

    user = Api(make_app().test_client(), token_minter)
    task = user.new_task()
    down = Api(make_app(upload_url="http://127.0.0.1:9").test_client(), token_minter)
    down.headers = user.headers
    resp = down.call("PUT", f"/v1/tasks/{task['id']}/content", data=b"x" * 10)
    assert resp.status_code == 503 and resp.get_json()["code"] == "unavailable"
    row = taskstore.get_task(db, task["id"])
    assert row is not None and row["status"] == "awaiting_upload"
