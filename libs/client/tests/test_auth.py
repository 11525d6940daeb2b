"""Sign-in and the refresh token: the client renews its access token by itself."""

from __future__ import annotations

import threading
import time

import pytest
from backdrop_client import ApiError, Client, Unreachable

from tests.helpers import SHORT_TTL_S


def test_refreshes_before_the_token_expires(short_lived: tuple[Client, Client, str]) -> None:
    _, client, name = short_lived
    first_refresh = client.refresh_token
    time.sleep(SHORT_TTL_S + 0.5)
    assert client.me()["username"] == name
    assert client.refresh_token != first_refresh  # rotated by the refresh
    assert client.credentials.expires_at and client.credentials.expires_at > time.time() + 60


def test_refreshes_after_a_401_when_the_expiry_is_unknown(
    short_lived: tuple[Client, Client, str],
) -> None:
    _, client, _ = short_lived
    client.credentials.expires_at = None  # as if the server had not said
    stale = client.token
    time.sleep(SHORT_TTL_S + 0.5)
    assert client.list_page()["items"] == []
    assert client.token != stale


def test_threads_sharing_a_session_spend_the_refresh_token_once(
    short_lived: tuple[Client, Client, str],
) -> None:
    _, client, name = short_lived
    time.sleep(SHORT_TTL_S + 0.5)
    answers: list[str] = []

    def call() -> None:
        with client.fork() as mine:
            answers.append(mine.me()["username"])

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A second use of one refresh token would have revoked the session (401 everywhere).
    assert answers == [name] * 6
    assert client.me()["username"] == name


def test_logout_ends_the_session(client: Client) -> None:
    token, refresh = client.token, client.refresh_token
    client.logout()
    assert client.token is None and client.refresh_token is None
    stale = Client(client.base_url, token, refresh_token=refresh)
    with pytest.raises(ApiError) as caught:
        stale.me()  # 401, then the refresh token is refused too
    assert caught.value.status == 401
    assert stale.refresh_token is None  # a refused refresh forgets the session


def test_unreachable_server_names_the_url() -> None:
    with pytest.raises(Unreachable) as caught:
        Client("http://127.0.0.1:1", timeout=2).processors()
    assert "http://127.0.0.1:1/v1/processors" in str(caught.value)
    assert "connection refused" in str(caught.value)
