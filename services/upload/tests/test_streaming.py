"""Uploads streamed through the service: raw PUT, the seed's form POST, limits."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import requests
from backdrop_common import taskstore
from flask import Flask
from flask.testing import FlaskClient
from upload_service.resources import Resources

from tests.helpers import Users, queued_key, task_objects

MiB = 1024 * 1024
Jobs = Callable[..., list[str]]


def _nothing_left(res: Resources, task: taskstore.TaskRow) -> None:
    assert task_objects(res, task) == []
    uploads = res.storage.s3.list_multipart_uploads(Bucket=res.storage.bucket)
    assert uploads.get("Uploads", []) == []


def test_put_content_queues(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"hello world")
    resp = client.put(f"/v1/tasks/{task['id']}/content", data=b"hello world", headers=headers)
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["task"]["status"] == "queued"
    assert res.storage.open_read(queued_key(res, task)).read() == b"hello world"
    assert jobs() == [str(task["id"])]
    again = client.put(f"/v1/tasks/{task['id']}/content", data=b"hello world", headers=headers)
    assert again.status_code == 202 and jobs() == [str(task["id"])]


def test_put_large_body_goes_in_parts(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    data = os.urandom(20 * MiB + 123)
    task = make_task(owner, data)
    resp = client.put(
        f"/v1/tasks/{task['id']}/content", input_stream=io.BytesIO(data),
        headers={**headers, "Content-Length": str(len(data))},
    )  # fmt: skip
    assert resp.status_code == 202, resp.get_json()
    key = queued_key(res, task)
    meta = res.storage.head(key)
    assert meta["ContentLength"] == len(data) and "-3" in meta["ETag"]  # 3 parts
    assert res.storage.sha256(key) == hashlib.sha256(data).hexdigest()


def test_empty_file(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"")
    resp = client.put(f"/v1/tasks/{task['id']}/content", data=b"", headers=headers)
    assert resp.status_code == 202, resp.get_json()
    assert res.storage.head(queued_key(res, task))["ContentLength"] == 0


def test_declared_too_big_is_413_before_reading(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"0123456789")
    resp = client.put(f"/v1/tasks/{task['id']}/content", data=b"x" * 100, headers=headers)
    assert resp.status_code == 413 and resp.get_json()["code"] == "payload_too_large"
    _nothing_left(res, task)
    assert jobs() == []


def test_chunked_over_size_aborts_the_multipart_upload(
    app: Flask, live_server: Any, res: Resources, users: Users, make_task: Callable[..., Any],
    jobs: Jobs,
) -> None:  # fmt: skip
    owner, headers = users.new()
    task = make_task(owner, b"z" * (9 * MiB), declare_sha=False)
    server = live_server(app)

    def body() -> Iterator[bytes]:  # no Content-Length: chunked, sized only by reading
        for _ in range(10):
            yield b"z" * MiB

    resp = requests.put(
        f"{server.url}/v1/tasks/{task['id']}/content", data=body(), headers=headers, timeout=60
    )
    assert resp.status_code == 413, resp.text
    _nothing_left(res, task)
    assert taskstore.get_task(res.db, task["id"])["status"] == "awaiting_upload"
    assert jobs() == []


def test_fewer_bytes_than_declared(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"hello world")
    resp = client.put(f"/v1/tasks/{task['id']}/content", data=b"hello", headers=headers)
    assert resp.status_code == 422 and resp.get_json()["code"] == "upload_invalid"
    _nothing_left(res, task)


def test_wrong_sha256_streamed(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"hello world")
    resp = client.put(f"/v1/tasks/{task['id']}/content", data=b"HELLO WORLD", headers=headers)
    assert resp.status_code == 422 and "SHA-256" in resp.get_json()["detail"]
    _nothing_left(res, task)
    assert jobs() == []


def test_seed_upload_form_and_raw(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], jobs: Jobs
) -> None:
    owner, headers = users.new()
    form_task = make_task(owner, b"form bytes")
    resp = client.post(
        f"/task/upload/{form_task['id']}",
        data={"note": "ignored", "file": (io.BytesIO(b"form bytes"), "a.txt")},
        headers=headers,
    )
    assert resp.status_code == 202, resp.get_json()
    assert res.storage.open_read(queued_key(res, form_task)).read() == b"form bytes"
    raw_task = make_task(owner, b"raw bytes")
    resp = client.post(f"/task/upload/{raw_task['id']}", data=b"raw bytes", headers=headers)
    assert resp.status_code == 202, resp.get_json()
    assert sorted(jobs()) == sorted([str(form_task["id"]), str(raw_task["id"])])


def test_seed_upload_form_streamed_large(
    app: Flask, live_server: Any, res: Resources, users: Users, make_task: Callable[..., Any],
) -> None:  # fmt: skip
    owner, headers = users.new()
    data = os.urandom(17 * MiB)
    task = make_task(owner, data)
    server = live_server(app)
    resp = requests.post(
        f"{server.url}/task/upload/{task['id']}",
        files={"file": ("big.bin", data, "application/octet-stream")},
        headers=headers,
        timeout=60,
    )
    assert resp.status_code == 202, resp.text
    assert res.storage.sha256(queued_key(res, task)) == hashlib.sha256(data).hexdigest()


def test_form_without_file_field(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any]
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"x")
    form = {"other": (io.BytesIO(b"x"), "o.txt")}  # multipart, but no field named file
    resp = client.post(f"/task/upload/{task['id']}", data=form, headers=headers)
    assert resp.status_code == 422 and "'file'" in resp.get_json()["detail"]


def test_stream_after_multipart_instructions(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any]
) -> None:
    res.settings.multipart_threshold = 5 * MiB
    owner, headers = users.new()
    data = os.urandom(6 * MiB)
    task = make_task(owner, data)
    upload = client.post(f"/internal/tasks/{task['id']}/upload-instructions", headers=headers)
    assert upload.get_json()["method"] == "MULTIPART"
    resp = client.put(f"/v1/tasks/{task['id']}/content", data=data, headers=headers)
    assert resp.status_code == 202, resp.get_json()
    uploads = res.storage.s3.list_multipart_uploads(Bucket=res.storage.bucket)
    assert uploads.get("Uploads", []) == []  # the unused presigned upload was aborted
