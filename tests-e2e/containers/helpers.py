"""Helpers of the container tests: the compose project seen through the docker CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from typing import Any

BASE_URL = os.environ.get("BACKDROP_URL", "").rstrip("/")
PROJECT = os.environ.get("BACKDROP_COMPOSE_PROJECT", "")


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


def worker_id(stack: Stack, task_id: str) -> str:
    """tasks.worker_id of a task (the consumer name <hostname>-<pid> of its last worker)."""
    uuid.UUID(task_id)  # only ever a task id in the query
    return stack.sql(f"SELECT worker_id FROM tasks.tasks WHERE id = '{task_id}'")  # noqa: S608
