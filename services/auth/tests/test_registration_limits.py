"""Registration is limited per address and overall, and sign-ups cannot starve logins."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from tests.helpers import PASSWORD, AuthHelper, assert_problem


def _register(client: Any, n: int, ip: str) -> Any:
    body = {"email": f"reg{n}@example.com", "username": f"reg{n}", "password": PASSWORD}
    return client.post("/v1/auth/register", json=body, environ_base={"REMOTE_ADDR": ip})


def test_registrations_per_address_are_limited(make_app) -> None:
    client = make_app(register_max_per_ip=3, register_window_s=600).test_client()
    for n in range(3):
        assert _register(client, n, "127.0.6.1").status_code == 201
    resp = _register(client, 3, "127.0.6.1")
    assert_problem(resp, 429, "rate_limited")
    assert 1 <= int(resp.headers["Retry-After"]) <= 600
    # A taken username or email counts too: probing is registration as well.
    assert_problem(_register(client, 0, "127.0.6.1"), 429, "rate_limited")
    assert _register(client, 4, "127.0.6.2").status_code == 201


def test_registrations_overall_are_limited(make_app) -> None:
    client = make_app(register_max_global_per_minute=4).test_client()
    for n in range(4):
        assert _register(client, n, f"127.0.7.{n + 1}").status_code == 201
    resp = _register(client, 9, "127.0.7.99")
    assert_problem(resp, 429, "rate_limited")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_a_flood_of_registrations_does_not_starve_a_login(make_app, live_server) -> None:
    # argon2 at a cost that takes tens of milliseconds, like production's, and one hashing
    # slot of two: registrations queue behind each other, a login takes the free slot.
    app = make_app(
        argon2_time_cost=2,
        argon2_memory_cost=16 * 1024,
        argon2_max_concurrent=2,
        argon2_max_concurrent_hashes=1,
    )
    acc = AuthHelper(app.test_client()).account()
    server = live_server(app)

    def register(n: int) -> None:
        body = {"email": f"flood{n}@example.com", "username": f"flood{n}", "password": PASSWORD}
        assert requests.post(f"{server.url}/v1/auth/register", json=body, timeout=60).ok

    started = time.monotonic()
    flood = [threading.Thread(target=register, args=(n,)) for n in range(16)]
    for thread in flood:
        thread.start()
    time.sleep(0.05)
    login_started = time.monotonic()
    body = {"identifier": acc.username, "password": acc.password}
    assert requests.post(f"{server.url}/v1/auth/login", json=body, timeout=60).ok
    login_s = time.monotonic() - login_started
    for thread in flood:
        thread.join(60)
    flood_s = time.monotonic() - started
    # Sixteen hashes one after another take many times a login; without the slots the login
    # shared the CPU with all of them and ended with the flood (1,474 ms instead of 159 ms
    # in the attack).
    assert login_s < flood_s / 2, (login_s, flood_s)
