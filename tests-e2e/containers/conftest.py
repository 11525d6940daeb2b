"""Fixtures for the container tests: a compose project started by scripts/containers/test.sh.

Environment (set by the script; `make test-containers`):
  BACKDROP_URL               the gateway as published on the host (http://127.0.0.1:28080)
  BACKDROP_COMPOSE_PROJECT   the compose project (backdrop-ci): containers are found by label
Without them the tests that need the stack skip (they fail under CI=true).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from backdrop_client import Client

from containers.helpers import BASE_URL, PROJECT, Stack


@pytest.fixture(scope="session")
def stack() -> Stack:
    if not PROJECT or not BASE_URL:
        if os.environ.get("CI"):
            pytest.fail("BACKDROP_URL / BACKDROP_COMPOSE_PROJECT not set: run make test-containers")
        pytest.skip("no compose stack (run make test-containers)")
    return Stack(PROJECT)


@pytest.fixture
def client(stack: Stack) -> Iterator[Client]:
    """A new user of the stack, signed in with the SDK."""
    api = Client(BASE_URL, timeout=120)
    api.wait_ready(timeout=90)
    name, password = f"ct_{uuid.uuid4().hex[:12]}", f"pw-{uuid.uuid4().hex}"
    api.register(f"{name}@example.com", name, password)
    api.login(name, password)
    yield api
    api.close()
