"""A minimal Backdrop client for the bench: users, tasks, uploads, and generated bodies."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})
MiB = 1024 * 1024
RETRIED_503: list[str] = []
"""Bodies of 503 answers to POST /v1/tasks that the bench retried with the same key."""
CONNECTION_RESETS: list[str] = []
"""Requests that failed on a dropped connection and were sent again (step: error)."""
CREATED_USERS: list[User] = []
"""Every user the bench registered (their S3 objects are removed at the end)."""


class BenchError(RuntimeError):
    """A request of the bench got an answer it cannot continue with."""

    def __init__(self, what: str, resp: requests.Response) -> None:
        super().__init__(f"{what}: HTTP {resp.status_code} {resp.text[:300]!r}")
        self.status = resp.status_code


def resend_on_reset(step: str, send: Callable[[], requests.Response]) -> requests.Response:
    """``send()``, once more if the connection was reset (a keep-alive connection the server
    closed just as it was reused); only for requests that are safe to repeat."""
    try:
        return send()
    except requests.ConnectionError as exc:
        CONNECTION_RESETS.append(f"{step}: {exc}"[:200])
        return send()


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 timestamp of the API as POSIX seconds (None stays None)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class User:
    """A registered, signed-in user with a session carrying their bearer token."""

    base_url: str
    user_id: str
    username: str
    token: str
    http: requests.Session

    def url(self, path: str) -> str:
        """Absolute URL of an API path."""
        return self.base_url + path

    def session(self) -> requests.Session:
        """A new session with the same token (one per thread: sessions are not thread-safe)."""
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.token}"
        return http


def new_user(base_url: str, prefix: str = "bench") -> User:
    """Register and log in a fresh user through the gateway."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    reg = requests.post(
        f"{base_url}/v1/auth/register",
        json={"email": f"{name}@example.com", "username": name, "password": password},
        timeout=30,
    )
    if reg.status_code != 201:
        raise BenchError("register", reg)
    login = requests.post(
        f"{base_url}/v1/auth/login", json={"identifier": name, "password": password}, timeout=30
    )
    if login.status_code != 200:
        raise BenchError("login", login)
    token = str(login.json()["access_token"])
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    user = User(base_url, str(reg.json()["id"]), name, token, http)
    CREATED_USERS.append(user)
    return user


def create_task(
    http: requests.Session,
    user: User,
    size: int,
    *,
    processor: str = "checksum",
    filename: str = "bench.bin",
    params: dict[str, Any] | None = None,
    quota_wait_s: float = 120.0,
    on_quota: Any = None,
) -> dict[str, Any]:
    """``POST /v1/tasks``; on 429 (the per-user cap) waits and retries for ``quota_wait_s``."""
    body: dict[str, Any] = {
        "processor": processor,
        "filename": filename,
        "size": size,
        "content_type": "application/octet-stream",
    }
    if params is not None:
        body["params"] = params
    # An Idempotency-Key makes a retry after a 503 safe (API.md: same key, same body = the
    # same task); the 503 itself is still counted by the services' metrics and reported.
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    deadline = time.monotonic() + quota_wait_s
    unavailable = 0
    while True:
        resp = resend_on_reset(
            "POST /v1/tasks (with Idempotency-Key)",
            lambda: http.post(user.url("/v1/tasks"), json=body, headers=headers, timeout=30),
        )
        if resp.status_code in (200, 201):
            doc: dict[str, Any] = resp.json()
            return doc
        if resp.status_code == 429 and time.monotonic() < deadline:
            if on_quota is not None:
                on_quota()
            time.sleep(min(float(resp.headers.get("Retry-After", "1")), 0.25))
            continue
        if resp.status_code == 503 and unavailable < 3:
            unavailable += 1
            RETRIED_503.append(resp.text[:200])
            time.sleep(0.2)
            continue
        raise BenchError("POST /v1/tasks", resp)


def presigned_post(upload: dict[str, Any], data: bytes) -> None:
    """Send ``data`` with the presigned POST form of a task (straight to S3)."""
    if upload.get("method") != "POST":
        raise RuntimeError(f"expected a presigned POST, got {upload.get('method')}")
    resp = resend_on_reset(
        "presigned POST to S3",
        lambda: requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": ("f", data, upload["fields"].get("Content-Type"))},
            timeout=120,
        ),
    )
    if resp.status_code not in (200, 201, 204):
        raise BenchError("presigned POST to S3", resp)


def upload_complete(http: requests.Session, user: User, task_id: str) -> dict[str, Any]:
    """``POST /v1/tasks/{id}/upload-complete`` → the queued task."""
    resp = resend_on_reset(  # idempotent: a settled task is answered as it is
        "POST upload-complete",
        lambda: http.post(user.url(f"/v1/tasks/{task_id}/upload-complete"), json={}, timeout=120),
    )
    if resp.status_code != 202:
        raise BenchError("POST upload-complete", resp)
    task: dict[str, Any] = resp.json()["task"]
    return task


def get_task(http: requests.Session, user: User, task_id: str) -> dict[str, Any]:
    """``GET /v1/tasks/{id}``."""
    resp = http.get(user.url(f"/v1/tasks/{task_id}"), timeout=30)
    if resp.status_code != 200:
        raise BenchError("GET /v1/tasks/{id}", resp)
    doc: dict[str, Any] = resp.json()
    return doc


def cancel(http: requests.Session, user: User, task_id: str) -> int:
    """``POST /v1/tasks/{id}/cancel``; returns the status code (409 = already finished)."""
    return http.post(user.url(f"/v1/tasks/{task_id}/cancel"), timeout=30).status_code


def wait_terminal(
    http: requests.Session, user: User, task_id: str, timeout_s: float
) -> dict[str, Any]:
    """Poll a task until it is terminal (raises TimeoutError after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        task = get_task(http, user, task_id)
        if task["status"] in TERMINAL:
            return task
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {task['status']} after {timeout_s:.0f}s")
        time.sleep(0.1)


def pattern_block(size: int = MiB) -> bytes:
    """Random filler; the generated bodies repeat this one block (nothing big is held)."""
    return os.urandom(size)


def chunk_generator(total: int, block: bytes) -> Iterator[bytes]:
    """Yield ``total`` bytes as chunks of ``len(block)`` (the last one shorter)."""
    sent = 0
    view = memoryview(block)
    while sent < total:
        n = min(len(block), total - sent)
        yield bytes(view[:n]) if n < len(block) else block
        sent += n


class SizedBody:
    """A generator of chunks that ``requests`` sends with a Content-Length (not chunked)."""

    def __init__(self, chunks: Iterator[bytes], length: int) -> None:
        self.chunks = chunks
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks


def generator_file(chunks: Iterator[bytes]) -> io.BufferedReader:
    """The chunks as a buffered file whose ``read(n)`` returns full ``n`` bytes until the end
    (boto3 cuts a non-seekable stream into parts with single reads)."""
    return io.BufferedReader(GeneratorFile(chunks), buffer_size=MiB)


class GeneratorFile(io.RawIOBase):
    """A read-only, non-seekable raw file over a generator of chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        """It is."""
        return True

    def readinto(self, target: Any) -> int:
        """Fill ``target`` from the buffered chunk or the next one; 0 at the end."""
        if not self._buffer:
            self._buffer = next(self._chunks, b"")
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n
