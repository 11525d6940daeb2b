"""Fixtures: the real services (tests/stack.py) and signed-in clients of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from backdrop_client import Client

from tests.helpers import backdrop, short_lived_client
from tests.stack import Stack, start


@pytest.fixture(scope="session")
def stack(infra_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Auth, upload, gateway and a worker, running for the whole session."""
    running = start(infra_env, tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture
def make_user(stack: Stack) -> Iterator[Callable[[], tuple[Client, str, str]]]:
    """Factory: a newly registered user, signed in; ``(client, username, password)``."""
    clients: list[Client] = []

    def make() -> tuple[Client, str, str]:
        name, password = f"c_{uuid.uuid4().hex[:12]}", f"pw-{uuid.uuid4().hex}"
        client = Client(stack.gateway_url)
        client.register(f"{name}@example.com", name, password)
        client.login(name, password)
        clients.append(client)
        return client, name, password

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def short_lived(
    stack: Stack, make_user: Callable[[], tuple[Client, str, str]]
) -> tuple[Client, Client, str]:
    """A new user: ``(client, short, username)``, where ``short`` is a client of theirs
    whose access token expires after ``SHORT_TTL_S`` (renewed with its refresh token)."""
    client, name, password = make_user()
    return client, short_lived_client(stack, name, password), name


@pytest.fixture
def client(make_user: Callable[[], tuple[Client, str, str]]) -> Client:
    """A signed-in client of a new user."""
    return make_user()[0]


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config directory for the ``backdrop`` command (``BACKDROP_CONFIG_DIR``)."""
    folder = tmp_path / "config"
    monkeypatch.setenv("BACKDROP_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def cli_user(
    stack: Stack, make_user: Callable[[], tuple[Client, str, str]], config_dir: Path
) -> tuple[str, str]:
    """A new user signed in with ``backdrop login`` (session in ``config_dir``)."""
    _, name, password = make_user()
    done = backdrop(stack, "login", name, "--password", password)
    assert done.exit_code == 0, done.output
    return name, password
