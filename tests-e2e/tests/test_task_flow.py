"""The client's whole journey through the gateway: create, upload, complete, process, fetch."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable

import requests
from e2e_support import User


def test_presigned_post_flow_to_result(user: User) -> None:
    data = os.urandom(300_000)
    created = user.create_task(
        "checksum",
        data,
        params={"algorithms": ["sha256", "md5"]},
        sha256=hashlib.sha256(data).hexdigest(),
    )
    task = created["task"]
    assert task["status"] == "awaiting_upload"
    assert created["upload"]["method"] == "POST"
    assert created["upload"]["stream_url"].endswith(f"/v1/tasks/{task['id']}/content")
    queued = user.upload_presigned(created, data)
    assert queued["status"] in ("queued", "running", "succeeded")
    done = user.wait(task["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["fraction"] == 1.0
    result = user.get(f"/v1/tasks/{task['id']}/result").json()
    assert result["result"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["result"]["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324 - checking md5
    assert result["result"]["bytes"] == len(data)


def test_streaming_put_flow(user: User) -> None:
    data = os.urandom(5 * 1024 * 1024 + 17)
    created = user.create_task("checksum", data)
    task_id = created["task"]["id"]
    resp = user.put(
        f"/v1/tasks/{task_id}/content",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert resp.status_code == 202, resp.text
    done = user.wait(task_id)
    assert done["status"] == "succeeded"
    assert user.get(f"/v1/tasks/{task_id}/result").json()["result"]["sha256"] == (
        hashlib.sha256(data).hexdigest()
    )


def test_wrong_size_is_upload_invalid_and_nothing_queued(user: User) -> None:
    data = b"a" * 1000
    created = user.create_task("checksum", data)
    upload = created["upload"]
    requests.post(
        upload["url"], data=upload["fields"], files={"file": ("f", data[:10])}, timeout=30
    )
    resp = user.post(f"/v1/tasks/{created['task']['id']}/upload-complete", json={})
    assert resp.status_code == 422
    assert resp.json()["code"] == "upload_invalid"
    assert user.get(f"/v1/tasks/{created['task']['id']}").json()["status"] == "awaiting_upload"


def test_idempotent_create(user: User) -> None:
    key = str(uuid.uuid4())
    body = {
        "processor": "checksum",
        "filename": "a.bin",
        "size": 10,
        "content_type": "application/octet-stream",
    }
    first = user.post("/v1/tasks", json=body, headers={"Idempotency-Key": key})
    again = user.post("/v1/tasks", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["task"]["id"] == again.json()["task"]["id"]
    other = user.post("/v1/tasks", json={**body, "size": 11}, headers={"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_mismatch"


def test_list_newest_first_with_cursor(user: User) -> None:
    ids = [user.create_task("checksum", b"x" * (i + 1))["task"]["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = user.get("/v1/tasks", params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    waiting = user.get("/v1/tasks", params={"status": "awaiting_upload"}).json()["items"]
    assert len(waiting) == 5


def test_other_users_task_is_404_everywhere(user: User, make_user: Callable[[], User]) -> None:
    data = b"private bytes"
    created = user.create_task("checksum", data)
    task_id = created["task"]["id"]
    intruder = make_user()
    for method, path in [
        ("GET", f"/v1/tasks/{task_id}"),
        ("POST", f"/v1/tasks/{task_id}/cancel"),
        ("GET", f"/v1/tasks/{task_id}/result"),
        ("GET", f"/v1/tasks/{task_id}/events"),
        ("POST", f"/v1/tasks/{task_id}/upload-complete"),
        ("PUT", f"/v1/tasks/{task_id}/content"),
        ("GET", f"/task/status/{task_id}"),
        ("POST", f"/task/cancel/{task_id}"),
    ]:
        resp = intruder.http.request(
            method, intruder.url(path), data=b"" if method != "GET" else None, timeout=30
        )
        assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert user.get(f"/v1/tasks/{task_id}").json()["status"] == "awaiting_upload"


def test_bad_input_is_4xx_problem(user: User) -> None:
    cases = [
        {"processor": "no-such-thing", "filename": "a", "size": 1, "content_type": "text/plain"},
        {"processor": "checksum", "filename": "a", "size": -1, "content_type": "text/plain"},
        {"processor": "checksum", "filename": "a", "size": "big", "content_type": "text/plain"},
        {
            "processor": "checksum",
            "filename": "a",
            "size": 1,
            "content_type": "text/plain",
            "params": {"algorithms": ["crc0"]},
        },
        {
            "processor": "checksum",
            "filename": "a",
            "size": 1,
            "content_type": "text/plain",
            "sha256": "zz",
        },
        {"processor": "checksum", "filename": "a", "size": 10**15, "content_type": "text/plain"},
    ]
    for body in cases:
        resp = user.post("/v1/tasks", json=body)
        assert 400 <= resp.status_code < 500, (body, resp.status_code, resp.text)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    malformed = user.post("/v1/tasks", data=b"{oops", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400


def test_seed_aliases(user: User) -> None:
    resp = user.post(
        "/task/request", json={"task_type": "checksum", "filename": "s.bin", "size": 4}
    )
    assert resp.status_code in (200, 201), resp.text
    doc = resp.json()
    task_id = doc["task_id"]
    assert doc["status"] == "awaiting_upload" and doc["upload_url"]
    up = user.post(
        f"/task/upload/{task_id}",
        data=b"seed",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert up.status_code in (200, 202), up.text
    user.wait(task_id)
    status = user.get(f"/task/status/{task_id}").json()
    assert status["task_id"] == task_id and status["status"] == "succeeded"
    result = user.get(f"/task/result/{task_id}")
    assert result.status_code == 200
    assert result.json()["result"]["sha256"] == hashlib.sha256(b"seed").hexdigest()
