"""The worker processes exactly the bytes upload-complete checked: a second upload of a
queued task (a presigned form is still valid; a concurrent streamed PUT) cannot replace or
remove them."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from backdrop_common import taskstore
from flask import Flask
from flask.testing import FlaskClient
from upload_service.resources import Resources

from tests.helpers import Users, queued_key

GOOD = b"the bytes that were checked"
EVIL = b"other bytes of the same size"[: len(GOOD)]


@pytest.mark.real_s3
def test_a_form_posted_again_after_verify_does_not_reach_the_worker(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any]
) -> None:
    owner, headers = users.new()
    task = make_task(owner, GOOD)
    resp = client.post(f"/internal/tasks/{task['id']}/upload-instructions", headers=headers)
    form = resp.get_json()

    def post(data: bytes) -> int:
        files = {"file": ("f", data)}
        return requests.post(form["url"], data=form["fields"], files=files, timeout=30).status_code

    assert post(GOOD) in (200, 201, 204)
    done = client.post(f"/v1/tasks/{task['id']}/upload-complete", headers=headers)
    assert done.status_code == 202 and done.get_json()["task"]["status"] == "queued"
    assert post(EVIL) in (200, 201, 204)  # the form is still valid: storage takes it
    key = queued_key(res, task)
    assert res.storage.open_read(key).read() == GOOD
    assert res.storage.sha256(key) == task["sha256"]


def test_a_failing_concurrent_streamed_put_leaves_the_verified_bytes(
    app: Flask, live_server: Any, res: Resources, users: Users, make_task: Callable[..., Any]
) -> None:
    owner, headers = users.new()
    task = make_task(owner, GOOD)
    server = live_server(app)
    url = f"{server.url}/v1/tasks/{task['id']}/content"
    first_done = threading.Event()
    replies: dict[str, requests.Response] = {}

    def body(data: bytes, wait: threading.Event | None) -> Iterator[bytes]:
        yield data[:5]
        if wait is not None:  # the second PUT is under way while the first one completes
            assert wait.wait(30)
        yield data[5:]

    def put(name: str, data: bytes, wait: threading.Event | None) -> None:
        replies[name] = requests.put(url, data=body(data, wait), headers=headers, timeout=60)
        if name == "good":
            first_done.set()

    evil = threading.Thread(target=put, args=("evil", EVIL, first_done))
    evil.start()
    put("good", GOOD, None)
    evil.join(60)
    assert replies["good"].status_code == 202
    assert replies["evil"].status_code == 422
    assert taskstore.get_task(res.db, task["id"])["status"] == "queued"
    assert res.storage.open_read(queued_key(res, task)).read() == GOOD


def test_two_valid_streamed_puts_queue_once_and_keep_one_copy(
    app: Flask, live_server: Any, res: Resources, users: Users, make_task: Callable[..., Any],
    jobs: Callable[..., list[str]],
) -> None:  # fmt: skip
    owner, headers = users.new()
    task = make_task(owner, GOOD)
    server = live_server(app)
    url = f"{server.url}/v1/tasks/{task['id']}/content"
    barrier = threading.Barrier(2, timeout=30)
    codes: list[int] = []

    def body() -> Iterator[bytes]:
        yield GOOD[:5]
        barrier.wait()  # both bodies are streaming before either completes
        yield GOOD[5:]

    def put() -> None:
        codes.append(requests.put(url, data=body(), headers=headers, timeout=60).status_code)

    threads = [threading.Thread(target=put) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert codes == [202, 202]
    assert jobs() == [str(task["id"])]
    prefix = f"users/{owner}/tasks/{task['id']}/verified/"
    listing = res.storage.s3.list_objects_v2(Bucket=res.storage.bucket, Prefix=prefix)
    assert [o["Key"] for o in listing.get("Contents", [])] == [queued_key(res, task)]
    assert (
        hashlib.sha256(res.storage.open_read(queued_key(res, task)).read()).hexdigest()
        == (task["sha256"])
    )
