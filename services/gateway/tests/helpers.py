"""Helpers the gateway tests share: a signed-in user, request bodies, task states
driven as other services would, an auth stand-in and an SSE parser."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from backdrop_common import events, taskstore
from backdrop_testing.tokens import TokenMinter
from flask import Flask, Response, jsonify, request
from flask.testing import FlaskClient


class Api:
    """A signed-in user calling the gateway through the test client."""

    def __init__(
        self, client: FlaskClient, minter: TokenMinter, roles: tuple[str, ...] = ("user",)
    ) -> None:
        self.client = client
        self.user_id = uuid.uuid4()
        self.token = minter.mint(self.user_id, roles=roles)
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """Any request with this user's token."""
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.call("POST", path, **kw)

    def create(self, **fields: Any) -> Any:
        """``POST /v1/tasks`` with a valid body, ``fields`` overriding it."""
        headers = fields.pop("headers", {})
        return self.post("/v1/tasks", json=task_body(**fields), headers=headers)

    def new_task(self, **fields: Any) -> dict[str, Any]:
        """Create a task and return its document (asserting 201)."""
        resp = self.create(**fields)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        doc: dict[str, Any] = resp.get_json()["task"]
        return doc


def task_body(**fields: Any) -> dict[str, Any]:
    """A valid task creation body with ``fields`` overriding it."""
    body: dict[str, Any] = {
        "processor": "checksum",
        "filename": "input.bin",
        "size": 1234,
        "content_type": "application/octet-stream",
    }
    body.update(fields)
    return body


def start_running(db: Any, task_id: str, worker: str = "w1") -> dict[str, Any]:
    """Move a new task to ``running`` as upload and a worker would."""
    assert taskstore.mark_queued(db, task_id) is not None
    row = taskstore.claim(db, task_id, worker, 60)
    assert row is not None
    return row


def succeed(db: Any, task_id: str, result: Any, artifacts: list[dict[str, Any]]) -> None:
    """Move a new task through to ``succeeded``."""
    start_running(db, task_id)
    assert taskstore.mark_succeeded(db, task_id, "w1", result, artifacts) is not None


def stub_auth_app(calls: list[dict[str, Any]], jwks: dict[str, Any]) -> Flask:
    """An auth stand-in: login issues tokens, other paths echo what arrived."""
    app = Flask("stub-auth")

    @app.post("/v1/auth/login")
    def login() -> Any:
        body = request.get_json()
        calls.append({"headers": dict(request.headers), "body": body})
        if body.get("password") != "right":
            return Response(
                json.dumps({"code": "unauthorized", "status": 401}),
                status=401,
                mimetype="application/problem+json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        tokens = {"access_token": "AT", "token_type": "Bearer", "expires_in": 900}
        return jsonify(tokens | {"refresh_token": "RT"})

    @app.route("/v1/auth/<path:path>", methods=["GET", "POST", "DELETE"])
    def echo(path: str) -> Response:
        calls.append({"path": request.full_path, "headers": dict(request.headers)})
        payload = gzip.compress(json.dumps({"path": path}).encode())
        resp = Response(payload, status=418, mimetype="application/json")
        resp.headers["Content-Encoding"] = "gzip"
        resp.headers["X-Custom"] = "kept"
        resp.headers["Keep-Alive"] = "timeout=5"
        resp.headers.add("Set-Cookie", "a=1")
        resp.headers.add("Set-Cookie", "b=2")
        return resp

    @app.get("/.well-known/jwks.json")
    def keys() -> Response:
        return jsonify(jwks)

    return app


def parse(chunks: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """SSE messages as ``{id, event, data}`` dicts, comments as ``{comment}``."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            message: dict[str, Any] = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    message["comment"] = line[1:].strip()
                    continue
                name, _, value = line.partition(":")
                message[name] = value[1:] if value.startswith(" ") else value
            if "data" in message:
                message["data"] = json.loads(message["data"])
            yield message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorns:
    """Starts the gateway under gunicorn (one gevent worker) with extra environment; keeps
    each server's log, readable with ``log(url)``."""

    def __init__(self, settings: Any, tmp_path: Path) -> None:
        self.settings = settings
        self.tmp_path = tmp_path
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def __call__(self, **extra: str) -> str:
        """Start one server with ``extra`` environment; its base URL once it answers."""
        port = _free_port()
        run = self.tmp_path / str(port)
        run.mkdir()
        env = {
            **os.environ,
            "BACKDROP_ENV": "test",
            "BACKDROP_DATABASE_URL": self.settings.database_url,
            "BACKDROP_REDIS_URL": self.settings.redis_url,
            "BACKDROP_S3_ENDPOINT_URL": self.settings.s3_endpoint_url,
            "BACKDROP_AUTH_URL": self.settings.auth_url,
            "BACKDROP_UPLOAD_URL": self.settings.upload_url,
            "BACKDROP_SSE_KEEPALIVE_S": "1",
            "BACKDROP_SSE_BLOCK_MS": "500",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(run),
            **extra,
        }
        gunicorn = Path(sys.executable).with_name("gunicorn")
        log = run / "gunicorn.log"
        proc = subprocess.Popen(
            [str(gunicorn), "-c", "python:backdrop_common.gunicorn_conf", "gateway.wsgi:app"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        url = f"http://127.0.0.1:{port}"
        self.procs[url] = (proc, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                time.sleep(0.2)
        pytest.fail("gunicorn did not start: " + log.read_text())

    def log(self, url: str) -> str:
        """What the server at ``url`` wrote to its log so far."""
        return self.procs[url][1].read_text()

    def stop(self) -> None:
        """Stop every server (their logs are printed: pytest shows them on failure)."""
        for proc, log in self.procs.values():
            proc.terminate()
            proc.wait(20)
            print(log.read_text()[-20000:])


def many_watchers(
    base: str,
    token: str,
    db: Any,
    redis: Any,
    count: int,
    watch: Callable[[str, Any], str],
    while_parked: Callable[[], None] | None = None,
) -> list[str]:
    """Create a running task on the gateway at ``base`` and start ``count`` threads running
    ``watch(task_id, opened)``: each calls ``opened.wait()`` once it saw the running state
    and returns the last status it saw. With all of them parked, the worker must still
    answer a request at once; then the task succeeds. Returns what the watchers saw last."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"processor": "checksum", "filename": "a", "size": 3, "content_type": "text/plain"}
    created = requests.post(f"{base}/v1/tasks", json=body, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    task_id = created.json()["task"]["id"]
    start_running(db, task_id)
    opened = threading.Barrier(count + 1, timeout=60)
    finals: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        last = watch(task_id, opened)
        with lock:
            finals.append(last)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    opened.wait()
    # With every stream parked in XREAD, the same single worker still answers at once.
    started = time.monotonic()
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert time.monotonic() - started < 2
    if while_parked is not None:
        while_parked()
    row = taskstore.mark_succeeded(db, task_id, "w1", {"ok": True}, [])
    events.publish_status(redis, row)
    for t in threads:
        t.join(60)
    return finals
