"""Helpers of the container tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

BASE_URL = os.environ.get("BACKDROP_URL", "").rstrip("/")
PROJECT = os.environ.get("BACKDROP_COMPOSE_PROJECT", "")
TERMINAL = ("succeeded", "failed", "cancelled", "expired")


def docker(*args: str, check: bool = True, timeout: float = 60) -> str:
    """Run the docker CLI; its stdout."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


class Stack:
    """The running compose project, seen through the docker CLI (v1 and v2 label alike)."""

    def __init__(self, project: str) -> None:
        self.project = project

    def containers(self, service: str, *, running: bool = True) -> list[str]:
        args = ["ps", "-q", "--no-trunc"] + ([] if running else ["-a"])
        args += ["--filter", f"label=com.docker.compose.project={self.project}"]
        args += ["--filter", f"label=com.docker.compose.service={service}"]
        return docker(*args).split()

    def container(self, service: str) -> str:
        (cid,) = self.containers(service)
        return cid

    def inspect(self, cid: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(docker("inspect", cid))[0]
        return doc

    def health(self, cid: str) -> str:
        return str(self.inspect(cid)["State"].get("Health", {}).get("Status", "none"))

    def wait_healthy(self, cid: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.health(cid)) != "healthy":
            assert time.monotonic() < deadline, f"{cid[:12]} still {status} after {timeout}s"
            time.sleep(0.5)

    def sql(self, query: str) -> str:
        """One value from the stack's PostgreSQL (psql inside its container; trusted input)."""
        return docker(
            "exec",
            self.container("postgres"),
            "psql",
            "-U",
            "backdrop",
            "-d",
            "backdrop",
            "-tAc",
            query,
        )


def wait_ready(base_url: str, timeout: float = 90) -> float:
    """Poll /readyz until 200, like a client that retries; the seconds it took."""
    start = time.monotonic()
    while True:
        try:
            if requests.get(f"{base_url}/readyz", timeout=3).status_code == 200:
                return time.monotonic() - start
        except requests.RequestException:
            pass
        assert time.monotonic() - start < timeout, f"{base_url} not ready after {timeout}s"
        time.sleep(0.25)


@dataclass
class Client:
    """A signed-in user of the stack."""

    base_url: str
    http: requests.Session
    token: str

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(f"{self.base_url}{path}", timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.http.post(f"{self.base_url}{path}", timeout=kw.pop("timeout", 30), **kw)

    def submit(self, processor: str, data: bytes, params: dict[str, Any] | None = None) -> str:
        """Create a task, upload with the presigned POST, confirm; the task id."""
        body = {
            "processor": processor,
            "filename": "input.bin",
            "size": len(data),
            "content_type": "application/octet-stream",
            "params": params or {},
        }
        created = self.post("/v1/tasks", json=body)
        assert created.status_code == 201, created.text
        doc = created.json()
        upload = doc["upload"]
        assert upload["method"] == "POST", upload["method"]
        sent = requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": ("f", data, upload["fields"].get("Content-Type"))},
            timeout=120,
        )
        assert sent.status_code in (200, 201, 204), sent.text
        done = self.post(f"/v1/tasks/{doc['task']['id']}/upload-complete", json={}, timeout=120)
        assert done.status_code == 202, done.text
        return str(doc["task"]["id"])

    def task(self, task_id: str) -> dict[str, Any]:
        resp = self.get(f"/v1/tasks/{task_id}")
        assert resp.status_code == 200, resp.text
        doc: dict[str, Any] = resp.json()
        return doc

    def wait(self, task_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (doc := self.task(task_id))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, f"task {task_id} still {doc['status']}"
            time.sleep(0.2)
        return doc


def worker_id(stack: Stack, task_id: str) -> str:
    """tasks.worker_id of a task (the consumer name <hostname>-<pid> of its last worker)."""
    uuid.UUID(task_id)  # only ever a task id in the query
    return stack.sql(f"SELECT worker_id FROM tasks.tasks WHERE id = '{task_id}'")  # noqa: S608
