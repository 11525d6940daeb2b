"""The gateway under ``gunicorn -k gevent``: many event streams open at once in one worker."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import requests

from tests.helpers import Gunicorns, many_watchers, parse

STREAMS = int(os.environ.get("GW_STREAMS", "150"))


def test_many_event_streams_in_one_gevent_worker(
    gunicorn_gateway: str, token_minter: Any, db: Any, redis_client: Any
) -> None:
    token = token_minter.mint()

    def watch(task_id: str, opened: Any) -> str:
        with requests.get(
            f"{gunicorn_gateway}/v1/tasks/{task_id}/events",
            headers={"Authorization": f"Bearer {token}"},
            stream=True,
            timeout=(10, 30),
        ) as resp:
            assert resp.status_code == 200
            messages = parse(resp.iter_content(chunk_size=None))
            assert next(messages)["data"]["status"] == "running"
            opened.wait()
            return str([m["data"]["status"] for m in messages if "data" in m][-1])

    ours = redis_client.connection_pool.connection_kwargs.get("db", 0)

    def waiting_in_xread() -> int:
        clients = redis_client.client_list()
        return sum(1 for c in clients if c["cmd"] == "xread" and int(c["db"]) == ours)

    # Readers other tests of this session left behind end within their block time: they
    # only lower the count, so what the streams below add is at most the difference.
    before = waiting_in_xread()

    def one_reader_per_log() -> None:
        # The streams of one task share one reader of its log (gateway.logtail): Redis has
        # one client waiting in XREAD for them, not one per stream.
        added = waiting_in_xread() - before
        assert added <= 2, f"{added} more XREADs for {STREAMS} streams of one task"

    finals = many_watchers(
        gunicorn_gateway, token, db, redis_client, STREAMS, watch, one_reader_per_log
    )
    assert finals == ["succeeded"] * STREAMS


def _raw_stream(base: str, path: str, token: str) -> tuple[socket.socket, str]:
    """Open ``path`` on a raw socket (as the attack did) and return it with its head."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head.decode("latin-1")


def test_one_user_cannot_take_the_gateway_offline(
    start_gunicorn: Gunicorns, token_minter: Any
) -> None:
    # The attack: one account, thousands of raw-socket streams on a task awaiting upload;
    # /healthz timed out for everyone and others got "database is busy" 503s. Here N x cap
    # sockets from one user against a gateway with a 2-connection database pool.
    cap, n = 5, 6
    url = start_gunicorn(
        BACKDROP_LIVE_STREAMS_PER_USER=str(cap),
        BACKDROP_LIVE_STREAMS_PER_ADDRESS="100",
        BACKDROP_DB_POOL_MAX="2",
        BACKDROP_SSE_ROW_CHECK_S="1",
    )
    body = {"processor": "checksum", "filename": "a", "size": 3, "content_type": "text/plain"}
    attacker = token_minter.mint()
    created = requests.post(
        f"{url}/v1/tasks", json=body, headers={"Authorization": f"Bearer {attacker}"}, timeout=10
    )
    assert created.status_code == 201, created.text
    path = f"/v1/tasks/{created.json()['task']['id']}/events"
    sockets = [_raw_stream(url, path, attacker) for _ in range(n * cap)]
    try:
        heads = [head for _, head in sockets]
        assert sum(h.startswith("HTTP/1.1 200") for h in heads) == cap
        refused = [h for h in heads if h.startswith("HTTP/1.1 429")]
        assert len(refused) == (n - 1) * cap
        assert all("application/problem+json" in h and "Retry-After:" in h for h in refused)
        # With the held streams open (and their row checks running), everyone else is served.
        for probe in ("/healthz", "/readyz"):
            started = time.monotonic()
            assert requests.get(f"{url}{probe}", timeout=10).status_code == 200
            assert time.monotonic() - started < 3, probe
        victim = {"Authorization": f"Bearer {token_minter.mint()}"}
        for _ in range(5):
            mine = requests.post(f"{url}/v1/tasks", json=body, headers=victim, timeout=10)
            assert mine.status_code == 201, mine.text
            task_id = mine.json()["task"]["id"]
            assert requests.get(f"{url}/v1/tasks/{task_id}", headers=victim, timeout=10).ok
        with requests.get(
            f"{url}/v1/tasks/{task_id}/events", headers=victim, stream=True, timeout=10
        ) as own:
            assert own.status_code == 200
            assert next(parse(own.iter_content(chunk_size=None)))["event"] == "status"
    finally:
        for sock, _ in sockets:
            sock.close()


def test_gunicorns_own_answers_are_problem_json_without_a_banner(gunicorn_gateway: str) -> None:
    # An 8 KB token used to get gunicorn's HTML 431 page; every answer said "Server: gunicorn".
    ok = requests.get(f"{gunicorn_gateway}/healthz", timeout=5)
    assert "gunicorn" not in ok.headers.get("Server", "").lower()
    huge = requests.get(
        f"{gunicorn_gateway}/v1/tasks", headers={"Authorization": "Bearer " + "a" * 9000}, timeout=5
    )
    assert huge.status_code == 431
    assert huge.headers["Content-Type"] == "application/problem+json"
    assert huge.json()["code"] == "header_too_large" and huge.json()["status"] == 431
    assert "gunicorn" not in huge.headers.get("Server", "").lower()
    long_line = requests.get(f"{gunicorn_gateway}/v1/tasks?x={'a' * 9000}", timeout=5)
    assert long_line.status_code == 414
    assert long_line.json()["code"] == "uri_too_long"


def test_a_pipelining_client_does_not_starve_the_others(start_gunicorn: Gunicorns) -> None:
    # One connection sends 2,000 requests at once (HTTP/1.1 pipelining); gunicorn's gevent
    # worker would serve them back to back without yielding, so another client's request
    # waited for the whole batch. With a turn per request it is answered at once. (A batch
    # of 400 took 0.16 s on a slow day, too close to a new connection's own 0.04 s.)
    url = start_gunicorn()
    host, port = url.removeprefix("http://").split(":")
    batch = 2000
    greedy = socket.create_connection((host, int(port)), timeout=30)
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    try:
        started = time.perf_counter()
        greedy.sendall(request * batch)
        polite = requests.get(f"{url}/healthz", timeout=30)
        polite_s = time.perf_counter() - started
        received = b""
        while received.count(b"HTTP/1.1 200") < batch:
            chunk = greedy.recv(65536)
            assert chunk, "the pipelining connection was closed early"
            received += chunk
        batch_s = time.perf_counter() - started
    finally:
        greedy.close()
    assert polite.status_code == 200
    # The polite request must not wait for the batch: a fifth of it at most.
    assert polite_s < batch_s / 5, (polite_s, batch_s)
