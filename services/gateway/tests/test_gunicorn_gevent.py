"""The gateway under ``gunicorn -k gevent``: many event streams open at once in one worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from backdrop_common import events, taskstore

from tests.helpers import parse, start_running

STREAMS = int(os.environ.get("GW_STREAMS", "150"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn_gateway(settings: Any, tmp_path: Path) -> Iterator[str]:
    """The gateway served by gunicorn with one gevent worker."""
    port = _free_port()
    env = {
        **os.environ,
        "BACKDROP_ENV": "test",
        "BACKDROP_DATABASE_URL": settings.database_url,
        "BACKDROP_REDIS_URL": settings.redis_url,
        "BACKDROP_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "BACKDROP_AUTH_URL": settings.auth_url,
        "BACKDROP_UPLOAD_URL": settings.upload_url,
        "BACKDROP_SSE_KEEPALIVE_S": "1",
        "BACKDROP_SSE_BLOCK_MS": "500",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "-c", "python:backdrop_common.gunicorn_conf", "gateway.wsgi:app"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "gunicorn.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start: " + (tmp_path / "gunicorn.log").read_text())
        yield url
    finally:
        proc.terminate()
        proc.wait(20)
        # Shown by pytest only when the test fails.
        print((tmp_path / "gunicorn.log").read_text()[-20000:])


def test_many_event_streams_in_one_gevent_worker(
    gunicorn_gateway: str, token_minter: Any, db: Any, redis_client: Any
) -> None:
    token = token_minter.mint()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"processor": "checksum", "filename": "a", "size": 3, "content_type": "text/plain"}
    created = requests.post(f"{gunicorn_gateway}/v1/tasks", json=body, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    task_id = created.json()["task"]["id"]
    start_running(db, task_id)
    opened = threading.Barrier(STREAMS + 1, timeout=60)
    finals: list[str] = []
    lock = threading.Lock()

    def watch() -> None:
        with requests.get(
            f"{gunicorn_gateway}/v1/tasks/{task_id}/events",
            headers=headers,
            stream=True,
            timeout=(10, 30),
        ) as resp:
            assert resp.status_code == 200
            messages = parse(resp.iter_content(chunk_size=None))
            assert next(messages)["data"]["status"] == "running"
            opened.wait()
            last = [m["data"]["status"] for m in messages if "data" in m][-1]
        with lock:
            finals.append(last)

    threads = [threading.Thread(target=watch, daemon=True) for _ in range(STREAMS)]
    for t in threads:
        t.start()
    opened.wait()
    # With every stream parked in XREAD, the same single worker still answers at once.
    started = time.monotonic()
    assert requests.get(f"{gunicorn_gateway}/healthz", timeout=5).status_code == 200
    assert time.monotonic() - started < 2
    row = taskstore.mark_succeeded(db, task_id, "w1", {"ok": True}, [])
    events.append_event(redis_client, task_id, "status", taskstore.task_json(row))
    for t in threads:
        t.join(30)
    assert finals == ["succeeded"] * STREAMS
