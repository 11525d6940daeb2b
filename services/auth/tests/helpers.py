"""Assertions and small helpers shared by the auth tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from backdrop_common.db import Database
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def bearer(token: str) -> dict[str, str]:
    """An Authorization header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}


def assert_problem(resp: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """``resp`` is a problem+json document with ``status`` (and ``code``)."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == "application/problem+json"
    doc: dict[str, Any] = resp.get_json(force=True)
    assert doc["status"] == status
    if code is not None:
        assert doc["code"] == code
    return doc


def assert_unauthorized(resp: TestResponse) -> None:
    """401 ``unauthorized`` with a Bearer challenge."""
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def count_rows(db: Database, table: str) -> int:
    """Rows in ``auth.<table>``."""
    with db.cursor() as cur:
        cur.execute(f"SELECT count(*) AS n FROM auth.{table}")  # noqa: S608 - test constant
        return int(cur.fetchone()["n"])


@dataclass
class Account:
    """A registered user and, once logged in, its tokens."""

    email: str
    username: str
    password: str
    user: dict[str, Any]
    access_token: str = ""
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for the access token."""
        return bearer(self.access_token)


class AuthHelper:
    """Registers and logs in users through the real endpoints."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def register(self, **fields: Any) -> TestResponse:
        """POST /v1/auth/register with a unique valid body, ``fields`` overriding it."""
        n = next(_seq)
        body = {"email": f"user{n}@example.com", "username": f"user{n}", "password": PASSWORD}
        body.update(fields)
        return self.client.post("/v1/auth/register", json=body)

    def login(self, identifier: str, password: str, ip: str = "127.0.0.1") -> TestResponse:
        """POST /v1/auth/login from ``ip``."""
        return self.client.post(
            "/v1/auth/login",
            json={"identifier": identifier, "password": password},
            environ_base={"REMOTE_ADDR": ip},
        )

    def account(self, **fields: Any) -> Account:
        """A new user, logged in."""
        resp = self.register(**fields)
        assert resp.status_code == 201, resp.json
        user = resp.get_json()
        acc = Account(user["email"], user["username"], fields.get("password", PASSWORD), user)
        tokens = self.login(acc.username, acc.password).get_json()
        acc.access_token, acc.refresh_token = tokens["access_token"], tokens["refresh_token"]
        return acc
