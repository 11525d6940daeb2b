"""A small, typed client for the Backdrop HTTP API (API.md)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import requests
import sseclient

ProgressFn = Callable[[int], None]
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})


class ApiError(Exception):
    """An error response from the API, carrying its problem+json document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('code')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem

    @property
    def code(self) -> str:
        """The stable problem code (``validation_error``, ``not_found``, ...)."""
        return str(self.problem.get("code", ""))


class _CountingReader:
    """Wraps a file so an upload reports how many bytes have been read."""

    def __init__(self, fh: BinaryIO, size: int, on_read: ProgressFn | None) -> None:
        self._fh, self._size, self._on_read = fh, size, on_read

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        chunk = self._fh.read(n)
        if chunk and self._on_read:
            self._on_read(len(chunk))
        return chunk


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Client:
    """Talks to a Backdrop gateway; holds the access and refresh tokens after ``login``."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.refresh_token: str | None = None
        self.timeout = timeout
        self.http = requests.Session()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        kwargs.setdefault("timeout", self.timeout)
        resp = self.http.request(method, f"{self.base_url}{path}", headers=headers, **kwargs)
        if resp.status_code >= 400:
            try:
                problem = resp.json()
            except ValueError:
                problem = {"code": "http_error", "detail": resp.text[:200]}
            raise ApiError(resp.status_code, problem)
        return resp

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._request(method, path, **kwargs)
        return resp.json() if resp.content else None

    # -- auth --------------------------------------------------------------------------
    def register(self, email: str, username: str, password: str, name: str = "") -> Any:
        """Create an account; returns the User."""
        body = {"email": email, "username": username, "password": password, "name": name}
        return self._json("POST", "/v1/auth/register", json=body)

    def login(self, identifier: str, password: str) -> Any:
        """Sign in with email or username; keeps the tokens on the client."""
        tokens = self._json(
            "POST", "/v1/auth/login", json={"identifier": identifier, "password": password}
        )
        self.token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        return tokens

    def me(self) -> Any:
        """The signed-in User."""
        return self._json("GET", "/v1/auth/me")

    # -- tasks -------------------------------------------------------------------------
    def processors(self) -> list[dict[str, Any]]:
        """The processors the service offers."""
        items: list[dict[str, Any]] = self._json("GET", "/v1/processors")["items"]
        return items

    def create_task(
        self,
        processor: str,
        filename: str,
        size: int,
        content_type: str = "application/octet-stream",
        params: dict[str, Any] | None = None,
        sha256: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Create a task; returns ``{task, upload}``."""
        body: dict[str, Any] = {
            "processor": processor,
            "params": params or {},
            "filename": filename,
            "size": size,
            "content_type": content_type,
        }
        if sha256:
            body["sha256"] = sha256
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json("POST", "/v1/tasks", json=body, headers=headers)

    def upload(
        self, task_id: str, upload: dict[str, Any], path: Path, on_bytes: ProgressFn | None = None
    ) -> Any:
        """Send ``path`` as the upload instructions say, then complete; returns the Task."""
        size = path.stat().st_size
        task_path = f"/v1/tasks/{task_id}"
        with path.open("rb") as fh:
            if upload.get("method") == "POST":
                reader = _CountingReader(fh, size, on_bytes)
                files = {"file": (path.name, reader, upload["fields"].get("Content-Type"))}
                resp = self.http.post(
                    upload["url"], data=upload["fields"], files=files, timeout=self.timeout
                )
                resp.raise_for_status()
                return self._json("POST", f"{task_path}/upload-complete", json={})["task"]
            if upload.get("method") == "MULTIPART":
                parts = []
                for part in upload["parts"]:
                    data = fh.read(upload["part_size"])
                    resp = self.http.put(part["url"], data=data, timeout=self.timeout)
                    resp.raise_for_status()
                    if on_bytes:
                        on_bytes(len(data))
                    parts.append({"part_number": part["part_number"], "etag": resp.headers["ETag"]})
                body = {"parts": parts}
                return self._json("POST", f"{task_path}/upload-complete", json=body)["task"]
            return self.stream_content(task_id, fh, size, on_bytes)

    def stream_content(
        self, task_id: str, fh: BinaryIO, size: int, on_bytes: ProgressFn | None = None
    ) -> Any:
        """Stream the bytes through ``PUT /v1/tasks/{id}/content``; returns the Task."""
        reader = _CountingReader(fh, size, on_bytes)
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        resp = self._json("PUT", f"/v1/tasks/{task_id}/content", data=reader, headers=headers)
        return resp["task"]

    def get_task(self, task_id: str) -> Any:
        """The Task."""
        return self._json("GET", f"/v1/tasks/{task_id}")

    def list_tasks(self, status: str | None = None, limit: int = 20) -> Iterator[Any]:
        """Every own task, newest first, following the cursor."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if status:
                params["status"] = status
            if cursor:
                params["cursor"] = cursor
            page = self._json("GET", "/v1/tasks", params=params)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, task_id: str) -> Any:
        """Ask to cancel; returns the Task."""
        return self._json("POST", f"/v1/tasks/{task_id}/cancel")["task"]

    def result(self, task_id: str) -> Any:
        """``{task_id, result, artifacts}`` of a succeeded task."""
        return self._json("GET", f"/v1/tasks/{task_id}/result")

    def events(self, task_id: str, last_event_id: str | None = None) -> Iterator[tuple[str, Any]]:
        """Yield ``(event, Task)`` from the live stream until the task is finished."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        resp = self._request(
            "GET", f"/v1/tasks/{task_id}/events", headers=headers, stream=True, timeout=(5, 60)
        )
        try:
            # chunk_size=None hands over bytes as they arrive, so events are not delayed.
            for event in sseclient.SSEClient(resp.iter_content(chunk_size=None)).events():
                if event.data:
                    yield event.event, json.loads(event.data)
        finally:
            resp.close()

    def download(self, url: str, dest: Path) -> Path:
        """Save a presigned artifact URL to ``dest``."""
        with self.http.get(url, stream=True, timeout=self.timeout) as resp:
            resp.raise_for_status()
            with dest.open("wb") as out:
                for chunk in resp.iter_content(1 << 16):
                    out.write(chunk)
        return dest


def default_url() -> str:
    """The gateway URL from ``BACKDROP_URL`` or the local default."""
    return os.environ.get("BACKDROP_URL", "http://127.0.0.1:8080")
