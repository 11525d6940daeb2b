"""The client's whole journey through the gateway: create, upload, complete, process, fetch."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable

import pytest
from backdrop_client import ApiError, StorageError

from tests.helpers import User


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
    queued = user.client.upload(task["id"], created["upload"], data)
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
    sent: list[int] = []
    queued = user.client.stream_content(task_id, data, on_bytes=sent.append)
    assert queued["status"] in ("queued", "running", "succeeded") and sum(sent) == len(data)
    done = user.wait(task_id)
    assert done["status"] == "succeeded"
    assert user.get(f"/v1/tasks/{task_id}/result").json()["result"]["sha256"] == (
        hashlib.sha256(data).hexdigest()
    )


def test_wrong_size_is_upload_invalid_and_nothing_queued(user: User) -> None:
    data = b"a" * 1000
    created = user.create_task("checksum", data)
    with contextlib.suppress(StorageError):  # a real S3 refuses it here already
        user.client.post_form(created["upload"], data[:10])
    with pytest.raises(ApiError) as caught:
        user.client.upload_complete(created["task"]["id"])
    assert caught.value.status == 422 and caught.value.code == "upload_invalid"
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
    first = user.client.list_page(limit=2)
    assert [t["id"] for t in first["items"]] == ids[:2:-1] and first["next_cursor"]
    seen = [t["id"] for t in user.client.list_tasks(limit=2)]  # follows the cursor
    assert seen == list(reversed(ids))
    assert len(list(user.client.list_tasks(status="awaiting_upload"))) == 5


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
        data = b"" if method != "GET" else None
        resp = intruder.client.request(method, path, check=False, data=data)
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
