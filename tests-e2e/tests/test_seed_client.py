"""The seed's own client, unchanged: login, request without a size, upload, poll, result.

A seed client knows nothing of sizes, presigned forms or the SDK: it sends what the seed's
README describes, with plain HTTP, once as a raw body and once as a multipart form.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
import requests

from tests.helpers import User


def _seed_session(user: User) -> requests.Session:
    """Sign in through ``POST /auth/login`` as the seed did; the session carries ``token``."""
    login = requests.post(
        user.url("/auth/login"),
        json={"username": user.username, "password": user.password},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {login.json()['token']}"
    return http


def _poll(http: requests.Session, user: User, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        status = http.get(user.url(f"/task/status/{task_id}"), timeout=30)
        assert status.status_code == 200, status.text
        doc: dict[str, Any] = status.json()
        assert set(doc) == {"task_id", "status", "progress", "message"}
        if doc["status"] in ("succeeded", "failed", "cancelled", "expired"):
            return doc
        assert time.monotonic() < deadline, f"task {task_id} still {doc['status']}"
        time.sleep(0.2)


@pytest.mark.parametrize("how", ["raw body", "multipart form"])
def test_seed_sequence_without_a_size(user: User, how: str) -> None:
    http = _seed_session(user)
    data = b"the seed client sends this file\n" * 1000
    requested = http.post(
        user.url("/task/request"), json={"task_type": "checksum", "filename": "a.txt"}, timeout=30
    )
    assert requested.status_code == 201, requested.text
    doc = requested.json()
    task_id = doc["task_id"]
    assert doc["status"] == "awaiting_upload"
    assert doc["upload"] is None  # nothing presigned can be offered without a length
    assert doc["upload_url"] == user.url(f"/task/upload/{task_id}")

    if how == "raw body":
        sent = http.post(doc["upload_url"], data=data, timeout=60)
    else:
        sent = http.post(doc["upload_url"], files={"file": ("a.txt", data)}, timeout=60)
    assert sent.status_code == 202, sent.text

    status = _poll(http, user, task_id)
    assert (status["task_id"], status["status"], status["progress"]) == (task_id, "succeeded", 1.0)
    result = http.get(user.url(f"/task/result/{task_id}"), timeout=30)
    assert result.status_code == 200, result.text
    assert result.json()["result"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert result.json()["result"]["bytes"] == len(data)
    assert user.client.get_task(task_id)["size"] == len(data)  # recorded on arrival
