"""Presigned uploads: instructions, the client's direct upload to S3, and upload-complete."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
import requests
from backdrop_common import events, taskstore
from flask.testing import FlaskClient
from upload_service.resources import Resources

from tests.helpers import PUBLIC_URL, Users, queued_key, task_objects

MiB = 1024 * 1024
Jobs = Callable[..., list[str]]


def _instructions(client: FlaskClient, task_id: Any, headers: dict[str, str]) -> dict[str, Any]:
    resp = client.post(f"/internal/tasks/{task_id}/upload-instructions", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body


def _post_form(upload: dict[str, Any], data: bytes) -> None:
    resp = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=30
    )
    assert resp.status_code in (200, 201, 204), resp.text


def _complete(client: FlaskClient, task_id: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/v1/tasks/{task_id}/upload-complete", json=body or None, headers=headers)


def test_presigned_post_flow(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs,
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    owner, headers = users.new()
    task = make_task(owner, b"hello world")
    upload = _instructions(client, task["id"], headers)
    assert upload["method"] == "POST" and upload["fields"]["key"] == task["object_key"]
    assert upload["stream_url"] == f"{PUBLIC_URL}/v1/tasks/{task['id']}/content"
    assert upload["expires_at"].endswith("Z")
    _post_form(upload, b"hello world")

    first = _complete(client, task["id"], headers)
    assert first.status_code == 202, first.get_json()
    assert first.get_json()["task"]["status"] == "queued"
    second = _complete(client, task["id"], headers)
    assert second.status_code == 202 and second.get_json()["task"]["status"] == "queued"
    assert jobs() == [str(task["id"])]
    row = taskstore.get_task(res.db, task["id"])
    assert row["status"] == "queued" and row["enqueued_at"] is not None
    logged = events.read_events(redis_client, task["id"], None, 0)
    assert [(kind, doc["status"]) for _, kind, doc in logged] == [("status", "queued")]
    # A small object is left to the sweeper's input sweep (its form is still valid).
    assert sorted(task_objects(res, task)) == sorted([task["object_key"], queued_key(res, task)])


def test_instructions_replay_and_states(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any]
) -> None:
    owner, headers = users.new()
    task = make_task(owner)
    assert _instructions(client, task["id"], headers)["method"] == "POST"
    assert _instructions(client, task["id"], headers)["method"] == "POST"  # replay
    taskstore.request_cancel(res.db, task["id"], owner)
    resp = client.post(f"/internal/tasks/{task['id']}/upload-instructions", headers=headers)
    assert resp.status_code == 409 and resp.get_json()["code"] == "conflict"
    done = _complete(client, task["id"], headers)
    assert done.status_code == 409 and done.get_json()["code"] == "task_finished"


def test_wrong_size_is_rejected_and_deleted(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"hello world")
    res.storage.put_bytes(task["object_key"], b"hello", "text/plain")
    resp = _complete(client, task["id"], headers)
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "upload_invalid" and "5 bytes but 11" in body["detail"]
    assert task_objects(res, task) == []
    assert taskstore.get_task(res.db, task["id"])["status"] == "awaiting_upload"
    assert jobs() == []
    # The client may upload again and complete.
    res.storage.put_bytes(task["object_key"], b"hello world", "text/plain")
    assert _complete(client, task["id"], headers).status_code == 202


def test_wrong_sha256_is_rejected_and_deleted(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"hello world")
    res.storage.put_bytes(task["object_key"], b"HELLO WORLD", "text/plain")
    resp = _complete(client, task["id"], headers)
    assert resp.status_code == 422 and "SHA-256" in resp.get_json()["detail"]
    assert task_objects(res, task) == []
    assert taskstore.get_task(res.db, task["id"])["status"] == "awaiting_upload"
    assert jobs() == []


def test_other_content_type_is_rejected_and_deleted(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"<b>hi</b>", content_type="text/plain")
    upload = _instructions(client, task["id"], headers)
    # moto stores whatever type the form says (a real S3 refuses the form: test_real_s3).
    forged = {**upload, "fields": {**upload["fields"], "Content-Type": "text/html"}}
    _post_form(forged, b"<b>hi</b>")
    resp = _complete(client, task["id"], headers)
    assert resp.status_code == 422 and resp.get_json()["code"] == "upload_invalid"
    assert "text/html" in resp.get_json()["detail"]
    assert task_objects(res, task) == []
    assert taskstore.get_task(res.db, task["id"])["status"] == "awaiting_upload"
    assert jobs() == []


def test_missing_object(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner)
    resp = _complete(client, task["id"], headers)
    assert resp.status_code == 422 and "No object" in resp.get_json()["detail"]
    assert jobs() == [] and taskstore.get_task(res.db, task["id"])["status"] == "awaiting_upload"


def test_bad_complete_bodies(
    client: FlaskClient, users: Users, make_task: Callable[..., Any]
) -> None:
    owner, headers = users.new()
    task = make_task(owner)
    url = f"/v1/tasks/{task['id']}/upload-complete"
    for body in ({"parts": "x"}, {"parts": [{"part_number": 0, "etag": "a"}]}, [1]):
        resp = client.post(url, json=body, headers=headers)
        assert resp.status_code == 400 and resp.get_json()["code"] == "validation_error"
    resp = client.post(url, data=b"{nope", headers={**headers, "Content-Type": "application/json"})
    assert resp.status_code == 400
    parts_on_post = _complete(client, task["id"], headers, parts=[{"part_number": 1, "etag": "e"}])
    assert parts_on_post.status_code == 422


def _upload_id(url: str) -> str:
    return parse_qs(urlsplit(url).query)["uploadId"][0]


def _put_parts(upload: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    parts = []
    size = upload["part_size"]
    for part in upload["parts"]:
        start = (part["part_number"] - 1) * size
        resp = requests.put(part["url"], data=data[start : start + size], timeout=60)
        assert resp.status_code == 200, resp.text
        parts.append({"part_number": part["part_number"], "etag": resp.headers["ETag"]})
    return parts


def test_multipart_over_100_mib(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    data = os.urandom(101 * MiB)
    task = make_task(owner, data, content_type="application/octet-stream")
    upload = _instructions(client, task["id"], headers)
    assert upload["method"] == "MULTIPART" and upload["part_size"] == 8 * MiB
    assert len(upload["parts"]) == 13 and "upload_id" not in upload
    again = _instructions(client, task["id"], headers)  # a replay reuses the upload
    # The upload id alone: the rest of the query (date, signature) changes with the second.
    assert _upload_id(again["parts"][0]["url"]) == _upload_id(upload["parts"][0]["url"])
    parts = _put_parts(upload, data)
    resp = _complete(client, task["id"], headers, parts=parts)
    assert resp.status_code == 202, resp.get_json()
    assert jobs() == [str(task["id"])]
    assert res.storage.sha256(queued_key(res, task)) == hashlib.sha256(data).hexdigest()
    assert taskstore.get_task(res.db, task["id"])["multipart_upload_id"] is None
    # A big one is deleted as soon as its verified copy is queued, not after the sweep.
    assert task_objects(res, task) == [queued_key(res, task)]


def test_multipart_completed_from_listed_parts_and_bad_size(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    res.settings.multipart_threshold = 5 * MiB
    owner, headers = users.new()
    data = os.urandom(12 * MiB)
    task = make_task(owner, data)
    upload = _instructions(client, task["id"], headers)
    assert upload["method"] == "MULTIPART" and len(upload["parts"]) == 2
    _put_parts(upload, data[:-1] + b"")  # one byte short
    resp = _complete(client, task["id"], headers)  # no parts: the service lists them
    assert resp.status_code == 422 and "bytes but" in resp.get_json()["detail"]
    assert task_objects(res, task) == [] and jobs() == []
    retry = _instructions(client, task["id"], headers)  # a fresh multipart upload
    _put_parts(retry, data)
    assert _complete(client, task["id"], headers).status_code == 202
    assert jobs() == [str(task["id"])]
