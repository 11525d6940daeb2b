"""Login throttling: per (account, IP) pair, per account (progressive, sparing addresses
with no failures), per IP (progressive); proxies only when trusted."""

from __future__ import annotations

import time

from tests.helpers import AuthHelper, assert_problem, assert_unauthorized

WRONG = "definitely wrong"


def _fail(auth, identifier: str, ip: str, times: int) -> None:
    for _ in range(times):
        assert_unauthorized(auth.login(identifier, WRONG, ip=ip))


def test_sixth_attempt_is_throttled_even_with_the_right_password(auth) -> None:
    acc = auth.account()
    _fail(auth, acc.username, "127.0.0.2", 5)
    resp = auth.login(acc.username, acc.password, ip="127.0.0.2")
    assert_problem(resp, 429, "rate_limited")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    # The pair is keyed on the identifier as typed, whatever its case.
    assert_problem(auth.login(acc.username.upper(), acc.password, ip="127.0.0.2"), 429)
    # The same account from another address still gets in.
    assert auth.login(acc.username, acc.password, ip="127.0.0.3").status_code == 200
    assert auth.login(acc.email, acc.password, ip="127.0.0.3").status_code == 200


def test_unknown_accounts_are_throttled_the_same_way(auth) -> None:
    _fail(auth, "ghost", "127.0.0.2", 5)
    assert_problem(auth.login("ghost", WRONG, ip="127.0.0.2"), 429, "rate_limited")


def test_success_does_not_reset_other_pairs(auth) -> None:
    acc = auth.account()
    _fail(auth, acc.username, "127.0.0.2", 5)
    assert auth.login(acc.username, acc.password, ip="127.0.0.3").status_code == 200
    assert_problem(auth.login(acc.username, acc.password, ip="127.0.0.2"), 429)


def test_per_ip_limit_across_identifiers(make_app) -> None:
    app = make_app(login_max_failures_per_ip=4)
    client = app.test_client()

    def login(identifier: str):
        return client.post(
            "/v1/auth/login",
            json={"identifier": identifier, "password": WRONG},
            environ_base={"REMOTE_ADDR": "127.0.0.4"},
        )

    for n in range(4):
        assert_unauthorized(login(f"spray{n}"))
    assert_problem(login("spray-next"), 429, "rate_limited")
    other_ip = client.post(
        "/v1/auth/login",
        json={"identifier": "spray-next", "password": WRONG},
        environ_base={"REMOTE_ADDR": "127.0.0.5"},
    )
    assert_unauthorized(other_ip)


def test_account_delay_spares_an_address_with_no_failures(make_app) -> None:
    # 20 failures per account used to refuse the right password from everywhere.
    app = make_app(login_free_failures_per_account=4, login_delay_base_s=5)
    auth = AuthHelper(app.test_client())
    acc = auth.account()
    for n in range(4):
        assert_unauthorized(auth.login(acc.username, WRONG, ip=f"127.0.1.{n + 1}"))
    # The guessers' addresses now wait, whichever name of the account they type...
    for identifier in (acc.username, acc.email):
        resp = auth.login(identifier, acc.password, ip="127.0.1.1")
        assert_problem(resp, 429, "rate_limited")
        assert 1 <= int(resp.headers["Retry-After"]) <= 5
    # ...while the owner, from an address that has not failed, gets in at once.
    assert auth.login(acc.email, acc.password, ip="127.0.1.100").status_code == 200


def test_account_delay_doubles_with_each_failure(make_app) -> None:
    app = make_app(login_free_failures_per_account=2, login_delay_base_s=1)
    auth = AuthHelper(app.test_client())
    acc = auth.account()
    assert_unauthorized(auth.login(acc.username, WRONG, ip="127.0.4.1"))
    assert_unauthorized(auth.login(acc.email, WRONG, ip="127.0.4.2"))
    assert auth.login(acc.username, WRONG, ip="127.0.4.1").headers["Retry-After"] == "1"
    time.sleep(1.1)
    assert_unauthorized(auth.login(acc.username, WRONG, ip="127.0.4.2"))
    assert auth.login(acc.username, WRONG, ip="127.0.4.1").headers["Retry-After"] == "2"


def test_an_address_over_its_limit_is_slowed_not_locked_out(make_app) -> None:
    # 30 failures from one address used to lock a user sharing it out for the whole window.
    app = make_app(login_max_failures_per_ip=3, login_delay_base_s=1, login_window_seconds=600)
    auth = AuthHelper(app.test_client())
    acc = auth.account()
    for n in range(3):
        assert_unauthorized(auth.login(f"guess{n}", WRONG, ip="127.0.5.1"))
    resp = auth.login(acc.username, acc.password, ip="127.0.5.1")
    assert_problem(resp, 429, "rate_limited")
    assert resp.headers["Retry-After"] == "1"
    time.sleep(1.1)
    assert auth.login(acc.username, acc.password, ip="127.0.5.1").status_code == 200


def test_forwarded_for_ignored_without_trusted_proxies(auth) -> None:
    acc = auth.account()
    for n in range(5):
        spoofed = {"X-Forwarded-For": f"127.0.2.{n}"}
        resp = auth.client.post(
            "/v1/auth/login",
            json={"identifier": acc.username, "password": WRONG},
            headers=spoofed,
            environ_base={"REMOTE_ADDR": "127.0.0.2"},
        )
        assert_unauthorized(resp)
    assert_problem(auth.login(acc.username, acc.password, ip="127.0.0.2"), 429)


def test_forwarded_for_used_behind_one_proxy(make_app, clean) -> None:
    app = make_app(proxy_hops=1)
    auth = AuthHelper(app.test_client())
    acc = auth.account()

    def login(password: str, client_ip: str):
        return auth.client.post(
            "/v1/auth/login",
            json={"identifier": acc.username, "password": password},
            headers={"X-Forwarded-For": f"127.9.9.9, {client_ip}"},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )

    for _ in range(5):
        assert_unauthorized(login(WRONG, "127.0.3.1"))
    assert_problem(login(acc.password, "127.0.3.1"), 429)
    assert login(acc.password, "127.0.3.2").status_code == 200
    with clean.cursor() as cur:
        cur.execute("SELECT ip FROM auth.sessions ORDER BY created_at DESC LIMIT 1")
        assert cur.fetchone()["ip"] == "127.0.3.2"
