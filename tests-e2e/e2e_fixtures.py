"""Black-box fixtures shared by ``tests/`` and ``browser/``: the gateway URL from the
environment, users made through the API (each directory's conftest imports them)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

import pytest
import requests
from e2e_support import User

BASE_URL = os.environ.get("BACKDROP_URL", "http://127.0.0.1:8080").rstrip("/")


@pytest.fixture(scope="session")
def base_url() -> str:
    """The gateway, once its /readyz says every dependency answers."""
    deadline = time.monotonic() + 60
    last: object = None
    while time.monotonic() < deadline:
        try:
            resp = requests.get(f"{BASE_URL}/readyz", timeout=3)
            if resp.status_code == 200:
                return BASE_URL
            last = resp.text
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.5)
    pytest.fail(f"gateway at {BASE_URL} never became ready: {last}", pytrace=False)


@pytest.fixture
def make_user(base_url: str) -> Callable[[], User]:
    """Factory: a new user registered and logged in through the gateway."""

    def make() -> User:
        name = f"e2e_{uuid.uuid4().hex[:12]}"
        email, password = f"{name}@example.com", f"pw-{uuid.uuid4().hex}"
        reg = requests.post(
            f"{base_url}/v1/auth/register",
            json={"email": email, "username": name, "password": password, "name": "E2E"},
            timeout=30,
        )
        assert reg.status_code == 201, reg.text
        login = requests.post(
            f"{base_url}/v1/auth/login",
            json={"identifier": name, "password": password},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        return User(base_url, name, email, password, login.json(), http)

    return make


@pytest.fixture
def user(make_user: Callable[[], User]) -> User:
    """One signed-in user."""
    return make_user()
