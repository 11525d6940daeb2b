"""Seed-compatible aliases: /auth/login and /task/*."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from backdrop_common import events, taskstore

from tests.helpers import start_running, stub_auth_app, succeed


@pytest.fixture
def seed_client(make_app: Any, live_server: Any, token_minter: Any) -> Any:
    calls: list[dict[str, Any]] = []
    server = live_server(stub_auth_app(calls, token_minter.jwks))
    client = make_app(auth_url=server.url).test_client()
    client.auth_calls = calls
    return client


def test_seed_login_adds_token(seed_client: Any) -> None:
    resp = seed_client.post("/auth/login", json={"identifier": "ann", "password": "right"})
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["token"] == doc["access_token"] == "AT"
    assert doc["refresh_token"] == "RT"


def test_seed_login_accepts_username_or_email(seed_client: Any) -> None:
    for field in ("username", "email"):
        resp = seed_client.post("/auth/login", json={field: "ann", "password": "right"})
        assert resp.status_code == 200
        assert seed_client.auth_calls[-1]["body"] == {"identifier": "ann", "password": "right"}


def test_seed_login_failure_passes_through(seed_client: Any) -> None:
    resp = seed_client.post("/auth/login", json={"identifier": "ann", "password": "wrong"})
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert "token" not in resp.get_json()


def test_seed_login_cannot_spoof_its_address(seed_client: Any) -> None:
    # auth's per-IP login limit trusts the last X-Forwarded-For hop: the gateway's own.
    headers = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6"}
    body = {"identifier": "ann", "password": "wrong"}
    seed_client.post("/auth/login", json=body, headers=headers)
    sent = seed_client.auth_calls[-1]["headers"]
    assert sent["X-Forwarded-For"] == "127.0.0.1"


def test_seed_login_nan_is_400_not_503(seed_client: Any) -> None:
    # Found by the API fuzz review: NaN parsed, then re-encoding it for auth raised, which
    # the gateway reported as "auth not reachable".
    raw = b'{"username": "ann", "password": NaN}'
    resp = seed_client.post("/auth/login", data=raw, content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["code"] == "validation_error"
    assert seed_client.auth_calls == []


def test_seed_login_auth_down_is_503(make_app: Any) -> None:
    client = make_app(auth_url="http://127.0.0.1:9").test_client()
    resp = client.post("/auth/login", json={"identifier": "a", "password": "b"})
    assert resp.status_code == 503 and resp.get_json()["code"] == "unavailable"


def test_seed_request_creates_a_task(api: Any) -> None:
    resp = api.post("/task/request", json={"task_type": "text-stats", "size": 10})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["status"] == "awaiting_upload"
    assert doc["upload"]["method"] == "POST"
    assert doc["upload_url"].endswith(f"/task/upload/{doc['task_id']}")
    task = api.get(f"/v1/tasks/{doc['task_id']}").get_json()
    assert task["processor"] == "text-stats"
    assert task["filename"] == "upload.bin"
    assert task["content_type"] == "application/octet-stream"


def test_seed_request_without_size_streams_the_body(api: Any) -> None:
    resp = api.post("/task/request", json={"task_type": "checksum", "filename": "a.txt"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["upload"] is None  # no presigned form can pin an unknown length
    assert doc["upload_url"].endswith(f"/task/upload/{doc['task_id']}")
    assert doc["task"]["size"] is None
    up = api.post(f"/task/upload/{doc['task_id']}", data=b"twelve bytes")
    assert up.status_code == 202, up.get_data(as_text=True)
    task = up.get_json()["task"]
    assert task["status"] == "queued" and task["size"] == 12


def test_seed_request_without_size_takes_a_form_upload(api: Any) -> None:
    task_id = api.post("/task/request", json={"task_type": "checksum"}).get_json()["task_id"]
    form = {"file": (io.BytesIO(b"form bytes"), "f.bin")}
    up = api.post(f"/task/upload/{task_id}", data=form)
    assert up.status_code == 202, up.get_data(as_text=True)
    assert up.get_json()["task"]["size"] == len(b"form bytes")


def test_seed_request_validation(api: Any) -> None:
    for size in (-1, "3", 1.5):
        body = {"task_type": "checksum", "size": size}
        assert api.post("/task/request", json=body).status_code == 400, size
    bad = api.post("/task/request", json={"task_type": "nope", "size": 1})
    assert bad.status_code == 400 and "processor" in bad.get_json()["errors"]
    assert api.post("/task/request", json={"size": 1}).status_code == 400
    malformed = api.post("/task/request", data=b"{", content_type="application/json")
    assert malformed.status_code == 400


def test_seed_request_is_idempotent(api: Any) -> None:
    body = {"task_type": "checksum", "size": 3}
    key = {"Idempotency-Key": "seed-1"}
    first = api.post("/task/request", json=body, headers=key)
    again = api.post("/task/request", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["task_id"] == again.get_json()["task_id"]


def test_seed_upload_status_result(api: Any, db: Any, redis_client: Any) -> None:
    data = b"seed"
    created = api.post(
        "/task/request", json={"task_type": "checksum", "filename": "s.txt", "size": len(data)}
    ).get_json()
    task_id = created["task_id"]
    up = api.post(f"/task/upload/{task_id}", data=data)
    assert up.status_code == 202, up.get_data(as_text=True)
    status = api.get(f"/task/status/{task_id}").get_json()
    assert status == {"task_id": task_id, "status": "queued", "progress": 0.0, "message": None}
    assert api.get(f"/task/result/{task_id}").status_code == 409
    row = taskstore.claim(db, task_id, "w1", 60)
    assert row is not None
    events.set_progress(redis_client, task_id, 0.5, "hashing", "half")
    status = api.get(f"/task/status/{task_id}").get_json()
    assert status["progress"] == 0.5 and status["message"] == "half"
    digest = hashlib.sha256(data).hexdigest()
    taskstore.mark_succeeded(db, task_id, "w1", {"bytes": 4, "sha256": digest}, [])
    result = api.get(f"/task/result/{task_id}")
    assert result.status_code == 200
    assert result.get_json()["result"]["sha256"] == digest


def test_seed_upload_as_multipart_form(api: Any) -> None:
    data = b"form bytes"
    task_id = api.post("/task/request", json={"task_type": "checksum", "size": len(data)})
    task_id = task_id.get_json()["task_id"]
    resp = api.post(f"/task/upload/{task_id}", data={"file": (io.BytesIO(data), "f.bin")})
    assert resp.status_code == 202, resp.get_data(as_text=True)


def test_seed_cancel(api: Any, db: Any) -> None:
    waiting = api.new_task()
    resp = api.post(f"/task/cancel/{waiting['id']}")
    assert resp.status_code == 202
    assert resp.get_json()["status"] == "cancelled"
    running = api.new_task()
    start_running(db, running["id"])
    doc = api.post(f"/task/cancel/{running['id']}").get_json()
    assert doc["status"] == "running" and doc["cancel_requested"] is True
    assert api.post(f"/task/cancel/{waiting['id']}").status_code == 409


def test_seed_status_shows_the_error_message(api: Any, db: Any) -> None:
    task = api.new_task()
    start_running(db, task["id"])
    taskstore.mark_failed(db, task["id"], "w1", "invalid_input", "not a CSV")
    status = api.get(f"/task/status/{task['id']}").get_json()
    assert status["status"] == "failed" and status["message"] == "not a CSV"


def test_seed_result_of_a_succeeded_task(api: Any, db: Any) -> None:
    task = api.new_task()
    succeed(db, task["id"], {"ok": True}, [])
    assert api.get(f"/task/result/{task['id']}").get_json()["result"] == {"ok": True}
