"""Helpers of the black-box tests: users signed in through the SDK users get."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import requests
from backdrop_client import Client, Task


@dataclass
class User:
    """A registered user and a ``backdrop_client.Client`` signed in as them.

    ``get``/``post``/``put`` are raw calls with the user's token that never raise, for
    tests that check status codes and problem documents themselves.
    """

    username: str
    email: str
    password: str
    client: Client

    @property
    def base_url(self) -> str:
        return self.client.base_url

    @property
    def access_token(self) -> str:
        return str(self.client.token)

    def url(self, path: str) -> str:
        return self.client.url(path)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.client.request("GET", path, check=False, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.client.request("POST", path, check=False, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.client.request("PUT", path, check=False, **kw)

    def create_task(self, processor: str, data: bytes, **fields: Any) -> dict[str, Any]:
        """``POST /v1/tasks`` for ``data`` (not uploaded yet): ``{task, upload}``."""
        created: dict[str, Any] = self.client.create_task(
            processor,
            fields.pop("filename", "input.bin"),
            len(data),
            fields.pop("content_type", "application/octet-stream"),
            **fields,
        )
        return created

    def submit(self, processor: str, data: bytes, **fields: Any) -> Task:
        """Create a task and upload ``data`` (presigned POST); the queued Task."""
        fields.setdefault("filename", "input.bin")
        fields.setdefault("content_type", "application/octet-stream")
        return self.client.submit(processor, data, **fields)

    def wait(self, task_id: str, timeout: float = 60) -> Task:
        """Poll until the task is finished."""
        return self.client.wait(task_id, timeout=timeout)


def new_user(base_url: str, prefix: str = "e2e") -> User:
    """Register a new user through the gateway and sign them in."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    email, password = f"{name}@example.com", f"pw-{uuid.uuid4().hex}"
    client = Client(base_url)
    client.register(email, name, password, "E2E")
    client.login(name, password)
    return User(name, email, password, client)
