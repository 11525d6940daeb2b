"""A client that declares more body bytes than it sends: 408 from the gateway, not a
connection held until the upstream gives up (then a 503 and a traceback)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from backdrop_testing.infra import stalled_put

TIMEOUT_S = 2


@pytest.fixture
def short_body_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway started after this waits ``TIMEOUT_S`` for body bytes."""
    monkeypatch.setenv("BACKDROP_BODY_READ_TIMEOUT_S", str(TIMEOUT_S))


def test_a_stalled_upload_body_gets_408(
    short_body_timeout: None,
    gunicorn_gateway: str,
    start_gunicorn: Any,
    token_minter: Any,
) -> None:
    headers = {"Authorization": f"Bearer {token_minter.mint()}"}
    body = {"processor": "checksum", "filename": "a", "size": 1000, "content_type": "text/plain"}
    created = requests.post(f"{gunicorn_gateway}/v1/tasks", json=body, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    task_id = created.json()["task"]["id"]
    reply, took = stalled_put(gunicorn_gateway, f"/v1/tasks/{task_id}/content", headers, 1000)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:300]
    assert b"application/problem+json" in reply and b'"code": "request_timeout"' in reply
    assert took < TIMEOUT_S + 10
    assert requests.get(f"{gunicorn_gateway}/healthz", timeout=5).status_code == 200
    assert "Traceback" not in start_gunicorn.log(gunicorn_gateway)
