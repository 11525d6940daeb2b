"""Passwords are stored as argon2id, upgraded on login, and never echoed or logged."""

from __future__ import annotations

import logging

import pytest
from argon2 import PasswordHasher
from auth_service.passwords import Passwords
from auth_service.settings import AuthSettings

from tests.helpers import AuthHelper, assert_problem

SECRET = "Sup3r-Secret-Passphrase-9731"


def _stored_hash(db, username: str) -> str:
    with db.cursor() as cur:
        cur.execute("SELECT password_hash FROM auth.users WHERE username = %s", (username,))
        return str(cur.fetchone()["password_hash"])


def test_stored_as_argon2id(auth, clean) -> None:
    auth.register(username="hashme", password=SECRET)
    stored = _stored_hash(clean, "hashme")
    assert stored.startswith("$argon2id$")
    assert SECRET not in stored


def test_rehash_on_login_when_parameters_change(make_app, clean) -> None:
    weak = AuthHelper(make_app().test_client())
    weak.register(username="upgrade", password=SECRET)
    before = _stored_hash(clean, "upgrade")
    assert "m=8,t=1,p=1" in before
    strong = AuthHelper(
        make_app(argon2_time_cost=2, argon2_memory_cost=16, argon2_parallelism=1).test_client()
    )
    assert strong.login("upgrade", SECRET).status_code == 200
    after = _stored_hash(clean, "upgrade")
    assert after != before and "m=16,t=2,p=1" in after
    assert strong.login("upgrade", SECRET).status_code == 200


def test_production_defaults_are_argon2_cffi_defaults() -> None:
    settings = AuthSettings(env="test")
    default = PasswordHasher()
    assert (
        settings.argon2_time_cost,
        settings.argon2_memory_cost,
        settings.argon2_parallelism,
    ) == (default.time_cost, default.memory_cost, default.parallelism)


def test_dummy_verify_for_unknown_users() -> None:
    passwords = Passwords(1, 8, 1)
    assert passwords.verify(None, "anything") is False
    assert passwords.verify("not-a-hash", "anything") is False
    good = passwords.hash(SECRET)
    assert passwords.verify(good, SECRET) is True
    assert passwords.verify(good, SECRET + "x") is False


def test_login_of_an_unknown_account_costs_a_full_verify(auth, ctx, clean) -> None:
    # The view used to short-circuit (``user is None or not verify(...)``), skipping the
    # dummy hash: unknown accounts answered ~20x faster than known ones (a user oracle).
    auth.register(username="known", password=SECRET)
    verified: list[str | None] = []
    real = ctx.passwords.verify

    def spy(stored: str | None, password: str) -> bool:
        verified.append(stored)
        return bool(real(stored, password))

    ctx.passwords.verify = spy
    assert_problem(auth.login("nobody", SECRET), 401, "unauthorized")
    assert_problem(auth.login("nobody@example.com", SECRET), 401, "unauthorized")
    assert_problem(auth.login("known", SECRET + "x"), 401, "unauthorized")
    assert verified[:2] == [None, None] and verified[2] == _stored_hash(clean, "known")
    # The dummy hash that None is checked against costs what a real one does.
    assert ctx.passwords._dummy.split("$")[1:4] == verified[2].split("$")[1:4]


@pytest.fixture
def debug_app(make_app):
    """An app logging at DEBUG, so nothing is filtered away before we look."""
    return make_app(log_level="DEBUG")


def test_password_never_in_responses_or_logs(debug_app, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    helper = AuthHelper(debug_app.test_client())
    client = helper.client
    bodies = []
    register = helper.register(username="quiet", email="quiet@example.com", password=SECRET)
    bodies.append(register)
    bodies.append(helper.register(username="quiet", email="quiet@example.com", password=SECRET))
    bodies.append(helper.register(username="quiet2", password=SECRET + "x" * 300))
    bodies.append(helper.register(username="q", password=SECRET))
    bodies.append(helper.login("quiet", SECRET + "!"))
    bodies.append(helper.login("nobody", SECRET))
    login = helper.login("quiet", SECRET)
    bodies.append(login)
    bodies.append(client.post("/v1/auth/login", json={"identifier": "quiet", "password": [SECRET]}))
    bodies.append(client.post("/v1/auth/login", json={"identifier": SECRET, "password": SECRET}))
    bodies.append(
        client.post("/v1/auth/login", json={"identifier": "quiet", "password": SECRET, "x": 1})
    )
    token = login.get_json()["access_token"]
    bodies.append(client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}))
    for _ in range(6):
        bodies.append(helper.login("quiet", SECRET + "?", ip="127.0.0.9"))
    assert_problem(bodies[-1], 429)

    assert register.status_code == 201 and login.status_code == 200
    for resp in bodies:
        assert SECRET not in resp.get_data(as_text=True)
    assert caplog.records, "expected some log lines to inspect"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.__dict__)
    out, err = capfd.readouterr()
    assert SECRET not in out and SECRET not in err
