"""Fixtures for the container tests: a compose project started by scripts/containers/test.sh.

Environment (set by the script; `make test-containers`):
  BACKDROP_URL               the gateway as published on the host (http://127.0.0.1:28080)
  BACKDROP_COMPOSE_PROJECT   the compose project (backdrop-ci): containers are found by label
Without them the tests that need the stack skip (they fail under CI=true).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ctsupport import BASE_URL, PROJECT, Client, Stack, wait_ready


@pytest.fixture(scope="session")
def stack() -> Stack:
    if not PROJECT or not BASE_URL:
        if os.environ.get("CI"):
            pytest.fail("BACKDROP_URL / BACKDROP_COMPOSE_PROJECT not set: run make test-containers")
        pytest.skip("no compose stack (run make test-containers)")
    return Stack(PROJECT)


@pytest.fixture
def client(stack: Stack) -> Iterator[Client]:
    wait_ready(BASE_URL)
    name = f"ct_{uuid.uuid4().hex[:12]}"
    password = f"pw-{uuid.uuid4().hex}"
    reg = requests.post(
        f"{BASE_URL}/v1/auth/register",
        timeout=30,
        json={"email": f"{name}@example.com", "username": name, "password": password},
    )
    assert reg.status_code == 201, reg.text
    login = requests.post(
        f"{BASE_URL}/v1/auth/login", timeout=30, json={"identifier": name, "password": password}
    )
    assert login.status_code == 200, login.text
    http = requests.Session()
    token = login.json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    yield Client(BASE_URL, http, token)
    http.close()
