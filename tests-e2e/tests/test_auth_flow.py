"""Auth through the gateway, as a client sees it."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from tests.helpers import User


def test_me_and_jwks(user: User) -> None:
    me = user.get("/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == user.username
    assert me.json()["roles"] == ["user"]
    assert "password" not in me.text
    keys = requests.get(f"{user.base_url}/.well-known/jwks.json", timeout=10).json()["keys"]
    assert keys and all(k["kty"] == "OKP" and "d" not in k for k in keys)


def test_login_by_email_refresh_and_logout(user: User) -> None:
    login = requests.post(
        user.url("/v1/auth/login"),
        json={"identifier": user.email, "password": user.password},
        timeout=10,
    )
    assert login.status_code == 200
    tokens = login.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    refreshed = requests.post(
        user.url("/v1/auth/refresh"), json={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    auth = {"Authorization": f"Bearer {new['access_token']}"}
    assert requests.get(user.url("/v1/auth/me"), headers=auth, timeout=10).status_code == 200
    out = requests.post(
        user.url("/v1/auth/logout"),
        json={"refresh_token": new["refresh_token"]},
        headers=auth,
        timeout=10,
    )
    assert out.status_code == 204
    after = requests.get(user.url("/v1/auth/me"), headers=auth, timeout=10)
    assert after.status_code == 401
    assert after.headers["Content-Type"].startswith("application/problem+json")
    assert "Bearer" in after.headers["WWW-Authenticate"]


def test_reused_refresh_token_revokes_family(user: User) -> None:
    first = user.client.refresh_token
    second = requests.post(user.url("/v1/auth/refresh"), json={"refresh_token": first}, timeout=10)
    assert second.status_code == 200
    # Within the grace window a reuse counts as a parallel refresh; the test stacks set it
    # to 1 s (BACKDROP_REFRESH_REUSE_GRACE_S), so this replay comes after it.
    time.sleep(1.5)
    reuse = requests.post(user.url("/v1/auth/refresh"), json={"refresh_token": first}, timeout=10)
    assert reuse.status_code == 401
    again = requests.post(
        user.url("/v1/auth/refresh"),
        json={"refresh_token": second.json()["refresh_token"]},
        timeout=10,
    )
    assert again.status_code == 401


def test_wrong_password_same_answer_as_unknown_user(user: User) -> None:
    wrong = requests.post(
        user.url("/v1/auth/login"),
        json={"identifier": user.username, "password": "nope-nope"},
        timeout=10,
    )
    ghost = requests.post(
        user.url("/v1/auth/login"),
        json={"identifier": "ghost_user_x", "password": "nope-nope"},
        timeout=10,
    )
    assert wrong.status_code == ghost.status_code == 401
    assert wrong.json()["detail"] == ghost.json()["detail"]


def test_seed_login_alias_returns_token(user: User) -> None:
    resp = requests.post(
        user.url("/auth/login"),
        json={"identifier": user.username, "password": user.password},
        timeout=10,
    )
    assert resp.status_code == 200
    token = resp.json()["token"]
    me = requests.get(
        user.url("/v1/auth/me"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert me.status_code == 200


def test_no_token_and_forged_token_are_401(user: User, make_user: Callable[[], User]) -> None:
    assert requests.get(user.url("/v1/tasks"), timeout=10).status_code == 401
    header, payload, _sig = user.access_token.split(".")
    other = make_user().access_token.split(".")[2]
    forged = requests.get(
        user.url("/v1/tasks"),
        headers={"Authorization": f"Bearer {header}.{payload}.{other}"},
        timeout=10,
    )
    assert forged.status_code == 401
