"""Fixtures shared by every black-box directory (``tests/``, ``browser/``, ``containers/``):
the gateway URL from the environment and users signed in through ``backdrop_client``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from backdrop_client import Client
from tests.helpers import User, new_user

BASE_URL = os.environ.get("BACKDROP_URL", "http://127.0.0.1:8080").rstrip("/")


@pytest.fixture(scope="session")
def base_url() -> str:
    """The gateway, once its /readyz says every dependency answers."""
    with Client(BASE_URL) as client:
        try:
            client.wait_ready(timeout=60)
        except TimeoutError as exc:
            pytest.fail(str(exc), pytrace=False)
    return BASE_URL


@pytest.fixture
def make_user(base_url: str) -> Iterator[Callable[[], User]]:
    """Factory: a new user registered and logged in through the gateway."""
    made: list[User] = []

    def make() -> User:
        user = new_user(base_url)
        made.append(user)
        return user

    yield make
    for user in made:
        user.client.close()


@pytest.fixture
def user(make_user: Callable[[], User]) -> User:
    """One signed-in user."""
    return make_user()
