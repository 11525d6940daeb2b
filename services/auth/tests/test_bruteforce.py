"""Login throttling: per (identifier, IP), per IP, per identifier; proxies only when trusted."""

from __future__ import annotations

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


def test_per_identifier_limit_across_ips(make_app) -> None:
    app = make_app(login_max_failures_per_identifier=6)
    auth = AuthHelper(app.test_client())
    acc = auth.account()
    for n in range(6):
        assert_unauthorized(auth.login(acc.username, WRONG, ip=f"127.0.1.{n + 1}"))
    resp = auth.login(acc.username, acc.password, ip="127.0.1.100")
    assert_problem(resp, 429, "rate_limited")
    assert resp.headers["Retry-After"]


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
