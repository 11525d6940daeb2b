"""Helpers for black-box tests: a signed-in user with a requests session."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests

TERMINAL = {"succeeded", "failed", "cancelled", "expired"}


@dataclass
class User:
    """A registered, signed-in user and a session carrying their token."""

    base_url: str
    username: str
    email: str
    password: str
    tokens: dict[str, Any]
    http: requests.Session

    @property
    def access_token(self) -> str:
        return str(self.tokens["access_token"])

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.http.post(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.http.put(self.url(path), timeout=kw.pop("timeout", 60), **kw)

    def create_task(self, processor: str, data: bytes, **fields: Any) -> dict[str, Any]:
        body = {
            "processor": processor,
            "filename": fields.pop("filename", "input.bin"),
            "size": len(data),
            "content_type": fields.pop("content_type", "application/octet-stream"),
            **fields,
        }
        resp = self.post("/v1/tasks", json=body)
        assert resp.status_code == 201, resp.text
        doc: dict[str, Any] = resp.json()
        return doc

    def upload_presigned(self, created: dict[str, Any], data: bytes) -> dict[str, Any]:
        upload = created["upload"]
        assert upload["method"] == "POST"
        resp = requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": ("f", data, upload["fields"].get("Content-Type"))},
            timeout=60,
        )
        assert resp.status_code in (200, 201, 204), resp.text
        done = self.post(f"/v1/tasks/{created['task']['id']}/upload-complete", json={})
        assert done.status_code == 202, done.text
        task: dict[str, Any] = done.json()["task"]
        return task

    def submit(self, processor: str, data: bytes, **fields: Any) -> dict[str, Any]:
        created = self.create_task(processor, data, **fields)
        return self.upload_presigned(created, data)

    def wait(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task: dict[str, Any] = self.get(f"/v1/tasks/{task_id}").json()
            if task["status"] in TERMINAL:
                return task
            time.sleep(0.1)
        pytest.fail(f"task {task_id} not finished after {timeout}s: {task}")
