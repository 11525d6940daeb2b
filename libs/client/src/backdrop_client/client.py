"""``Client``: every call of the Backdrop HTTP API, typed and documented."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from backdrop_contract.states import TERMINAL

from backdrop_client import live, transfer
from backdrop_client.errors import Unreachable
from backdrop_client.transport import Transport

Task = dict[str, Any]


class Client(Transport):
    """A Backdrop gateway as Python calls. After ``login`` it holds the access and refresh
    tokens and renews the access token by itself."""

    def fork(self) -> Client:
        """A client for another thread: same URL and shared credentials, its own connections."""
        return Client(
            self.base_url,
            credentials=self.credentials,
            timeout=self.timeout,
            on_resend=self.on_resend,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.25) -> float:
        """Poll ``GET /readyz`` until the gateway and its dependencies answer; the seconds
        it took. Raises ``TimeoutError`` (naming the last answer) after ``timeout``."""
        start = time.monotonic()
        while True:
            try:
                resp = self.request("GET", "/readyz", auth=False, check=False, timeout=3)
                if resp.status_code == 200:
                    return time.monotonic() - start
                last = f"{resp.status_code} {resp.text[:200]}"
            except Unreachable as exc:
                last = str(exc)
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"{self.base_url} not ready after {timeout:.0f}s: {last}")
            time.sleep(interval)

    # -- auth --------------------------------------------------------------------------
    def register(self, email: str, username: str, password: str, name: str = "") -> Any:
        """Create an account; returns the ``User``."""
        body = {"email": email, "username": username, "password": password, "name": name}
        return self.json("POST", "/v1/auth/register", json=body, auth=False)

    def login(self, identifier: str, password: str) -> Any:
        """Sign in with email or username; the client keeps (and later renews) the tokens."""
        body = {"identifier": identifier, "password": password}
        tokens = self.json("POST", "/v1/auth/login", json=body, auth=False)
        self.credentials.update(tokens)
        return tokens

    def logout(self) -> None:
        """End the session on the server (the access token stops working) and forget it."""
        body = {"refresh_token": self.refresh_token} if self.refresh_token else {}
        self.request("POST", "/v1/auth/logout", json=body)
        self.credentials.clear()

    def me(self) -> Any:
        """The signed-in ``User``."""
        return self.json("GET", "/v1/auth/me")

    # -- tasks -------------------------------------------------------------------------
    def processors(self) -> list[dict[str, Any]]:
        """The processors the service offers: ``[{name, description, params_schema}]``."""
        items: list[dict[str, Any]] = self.json("GET", "/v1/processors")["items"]
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
        """Create a task; returns ``{task, upload}`` (``upload`` says how to send the bytes).

        With an ``idempotency_key`` the same call again returns the same task (with fresh
        upload instructions while it awaits its bytes), so it is also re-sent by itself
        after a dropped connection.
        """
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
        return self.json(
            "POST", "/v1/tasks", json=body, headers=headers, idempotent=bool(idempotency_key)
        )

    def upload(
        self,
        task_id: str,
        upload: Mapping[str, Any] | None,
        source: transfer.Source,
        on_bytes: transfer.ProgressFn | None = None,
        *,
        filename: str = "file",
        stored_parts: Mapping[int, str] | None = None,
        on_part: transfer.PartDone | None = None,
    ) -> Task:
        """Send ``source`` the way ``upload`` says (presigned POST, multipart parts, or the
        streaming fallback when ``upload`` is None), then complete; returns the ``Task``.

        ``stored_parts`` (part number → ETag) are multipart parts storage already holds
        from an interrupted attempt; ``on_part`` hears of each part as it is stored.
        """
        method = (upload or {}).get("method")
        if upload is not None and method == "POST":
            self.post_form(upload, source, filename, on_bytes)
            return self.upload_complete(task_id)
        if upload is not None and method == "MULTIPART":
            parts = transfer.put_parts(
                self.http, upload, source, stored=stored_parts, on_bytes=on_bytes, on_part=on_part
            )
            return self.upload_complete(task_id, parts)
        return self.stream_content(task_id, source, on_bytes=on_bytes)

    def post_form(
        self,
        upload: Mapping[str, Any],
        source: transfer.Source,
        filename: str = "file",
        on_bytes: transfer.ProgressFn | None = None,
    ) -> None:
        """Send ``source`` straight to storage with a presigned POST form (``upload`` of
        method POST); raises ``StorageError`` if storage refuses it. Then ``upload_complete``."""
        transfer.post_form(self.http, upload, source, filename=filename, on_bytes=on_bytes)

    def upload_complete(self, task_id: str, parts: list[dict[str, Any]] | None = None) -> Task:
        """``POST /v1/tasks/{id}/upload-complete``: verify the stored object, queue the task."""
        body = {"parts": parts} if parts is not None else {}
        path = f"/v1/tasks/{task_id}/upload-complete"
        task: Task = self.json("POST", path, json=body, idempotent=True, timeout=300)["task"]
        return task

    def stream_content(
        self,
        task_id: str,
        source: transfer.Source | Iterable[bytes],
        size: int | None = None,
        on_bytes: transfer.ProgressFn | None = None,
    ) -> Task:
        """Stream the bytes through ``PUT /v1/tasks/{id}/content``; returns the ``Task``.

        ``source`` may also be an iterable of chunks, then ``size`` is required.
        """
        headers = {"Content-Type": "application/octet-stream"}
        path = f"/v1/tasks/{task_id}/content"
        if isinstance(source, bytes | Path) or hasattr(source, "read"):
            src: transfer.Source = source  # type: ignore[assignment]
            total = transfer.source_size(src) if size is None else size
            with transfer.open_source(src) as fh:
                body: Any = transfer.CountingReader(fh, total, on_bytes)
                return self._put_content(path, body, headers)
        if size is None:
            raise TypeError("stream_content needs size= for an iterable of chunks")
        chunks = transfer.SizedChunks(source, size, on_bytes)
        return self._put_content(path, chunks, headers)

    def _put_content(self, path: str, body: Any, headers: dict[str, str]) -> Task:
        task: Task = self.json("PUT", path, data=body, headers=headers, timeout=600)["task"]
        return task

    def submit(
        self,
        processor: str,
        source: transfer.Source,
        *,
        params: dict[str, Any] | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        sha256: str | None = None,
        idempotency_key: str | None = None,
        on_bytes: transfer.ProgressFn | None = None,
    ) -> Task:
        """Create a task for ``source`` and upload it; returns the queued ``Task``."""
        if filename is None:
            filename = source.name if isinstance(source, Path) else "upload.bin"
        if content_type is None:
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        created = self.create_task(
            processor,
            filename,
            transfer.source_size(source),
            content_type,
            params,
            sha256=sha256,
            idempotency_key=idempotency_key,
        )
        task_id = created["task"]["id"]
        return self.upload(task_id, created["upload"], source, on_bytes, filename=filename)

    def get_task(self, task_id: str) -> Task:
        """The ``Task``."""
        task: Task = self.json("GET", f"/v1/tasks/{task_id}")
        return task

    def list_page(
        self, status: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> Any:
        """One page of own tasks, newest first: ``{items, next_cursor}``."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if cursor:
            params["cursor"] = cursor
        return self.json("GET", "/v1/tasks", params=params)

    def list_tasks(self, status: str | None = None, limit: int = 20) -> Iterator[Task]:
        """Every own task, newest first, following the cursor page by page."""
        cursor: str | None = None
        while True:
            page = self.list_page(status, limit, cursor)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, task_id: str) -> Task:
        """Ask to cancel; returns the ``Task`` (``cancelled``, or still ``running`` with
        ``cancel_requested`` until the worker stops)."""
        task: Task = self.json("POST", f"/v1/tasks/{task_id}/cancel")["task"]
        return task

    def result(self, task_id: str) -> Any:
        """``{task_id, result, artifacts}`` of a succeeded task."""
        return self.json("GET", f"/v1/tasks/{task_id}/result")

    def events(self, task_id: str, last_event_id: str | None = None) -> Iterator[live.Event]:
        """The task's live events until it finishes (resumes after ``last_event_id``)."""
        return live.follow_task(self, task_id, last_event_id)

    def all_events(
        self,
        status: str | None = None,
        processor: str | None = None,
        last_event_id: str | None = None,
    ) -> Iterator[live.Event]:
        """Every own task's live events for ever (``GET /v1/events``), from what happens
        next or after ``last_event_id``; ``status``/``processor`` filter (comma separated).
        Reconnects and renews the token by itself; a revoked session raises ``ApiError``."""
        return live.follow_all(self, status, processor, last_event_id)

    def wait(self, task_id: str, timeout: float | None = None, interval: float = 0.1) -> Task:
        """Poll until the task is finished; returns it. Raises ``TimeoutError`` after
        ``timeout`` seconds (None: wait for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.get_task(task_id)
            if task["status"] in TERMINAL:
                return task
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {task['status']} after {timeout}s")
            time.sleep(interval)

    def download(self, url: str, dest: Path) -> Path:
        """Save an artifact's presigned URL to ``dest``."""
        resp = self.request("GET", url, auth=False, stream=True, timeout=300)
        with resp, dest.open("wb") as out:
            for chunk in resp.iter_content(1 << 16):
                out.write(chunk)
        return dest
