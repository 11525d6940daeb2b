"""WebSocket streams (``/v1/tasks/<id>/ws``, ``/v1/ws``): the SSE stream's frames and
resume, tokens in the handshake or the first message (never the URL), refusals with close
codes, and 100 sockets at once in one gevent worker."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from backdrop_common import events, taskstore
from backdrop_common.redis_keys import revoked_sid_key
from simple_websocket import Client, ConnectionClosed

from tests.helpers import many_watchers, start_running

SOCKETS = 100


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


def connect(base: str, path: str, token: str | None = None) -> Client:
    """A socket with the token as subprotocol (``None``: no token in the handshake)."""
    protocols = ["backdrop"] + ([f"bearer.{token}"] if token else [])
    return Client.connect(ws_url(base, path), subprotocols=protocols)


def receive(ws: Client, timeout: float = 10) -> dict[str, Any]:
    raw = ws.receive(timeout=timeout)
    assert raw is not None, "no message in time"
    message: dict[str, Any] = json.loads(raw)
    return message


def until_closed(ws: Client, timeout: float = 15) -> list[dict[str, Any]]:
    """Every message until the server closes the socket."""
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            raw = ws.receive(timeout=0.5)
            if raw is not None:
                messages.append(json.loads(raw))
    except ConnectionClosed:
        return messages
    pytest.fail(f"still open after {timeout} s: {messages}")


@pytest.fixture
def server(app: Any, live_server: Any) -> str:
    """The gateway on a live (threaded werkzeug) server: WebSockets need a real socket."""
    return str(live_server(app).url)


def test_task_socket_snapshot_live_events_and_close(
    server: str, api: Any, db: Any, redis_client: Any
) -> None:
    task = api.new_task()
    start_running(db, task["id"])
    ws = connect(server, f"/v1/tasks/{task['id']}/ws", api.token)
    assert ws.subprotocol == "backdrop"  # the token is never echoed back
    first = receive(ws)
    assert first["event"] == "status" and first["data"]["status"] == "running"
    row = taskstore.mark_succeeded(db, task["id"], "w1", {"ok": 1}, [])
    assert row is not None
    final = events.publish_status(redis_client, row)
    messages = until_closed(ws)
    assert [m["data"]["status"] for m in messages] == ["succeeded"]
    assert messages[0]["id"] == final
    assert ws.close_reason == 1000


def test_resume_after_an_id_no_gap_no_duplicate(
    server: str, api: Any, db: Any, redis_client: Any
) -> None:
    task = api.new_task()
    running = start_running(db, task["id"])
    ids = [
        events.append_event(redis_client, task["id"], "progress", taskstore.task_json(running))
        for _ in range(5)
    ]
    # The id in the first message (a token there too), and in the query string.
    ws = connect(server, f"/v1/tasks/{task['id']}/ws")
    ws.send(json.dumps({"token": api.token, "last_event_id": ids[1]}))
    assert [receive(ws)["id"] for _ in range(3)] == ids[2:]
    ws.close()
    ws = connect(server, f"/v1/tasks/{task['id']}/ws?last_event_id={ids[3]}", api.token)
    assert receive(ws)["id"] == ids[4]
    assert ws.receive(timeout=0.5) is None  # nothing twice, no snapshot on a resume
    ws.close()


def test_user_socket_follows_all_my_tasks_filtered(
    server: str, api: Any, make_api: Any, db: Any, redis_client: Any
) -> None:
    mine, other = api.new_task(), make_api().new_task()
    ws = connect(server, "/v1/ws?status=succeeded,failed", api.token)
    time.sleep(0.3)  # a fresh stream starts with what happens next
    for task in (mine, other):
        start_running(db, task["id"])
        events.publish_status(redis_client, taskstore.get_task(db, task["id"]))
        row = taskstore.mark_succeeded(db, task["id"], "w1", {}, [])
        events.publish_status(redis_client, row)
    message = receive(ws)
    assert (message["data"]["id"], message["data"]["status"]) == (mine["id"], "succeeded")
    assert ws.receive(timeout=0.5) is None  # the other user's task never shows
    ws.close()


@pytest.mark.parametrize(
    ("path", "first", "code"),
    [
        ("/v1/ws", "not json", 4401),
        ("/v1/ws", json.dumps({"token": "x.y.z"}), 4401),
        ("/v1/ws?status=bogus", None, 4400),
        ("/v1/tasks/00000000-0000-0000-0000-000000000000/ws", None, 4404),
    ],
)
def test_refusals_say_why_and_close(
    server: str, api: Any, path: str, first: str | None, code: int
) -> None:
    ws = connect(server, path, None if first else api.token)
    if first:
        ws.send(first)
    message = receive(ws)
    assert message["event"] == "error"
    assert message["data"]["status"] == code - 4000
    until_closed(ws)
    assert ws.close_reason == code


def test_no_token_in_time_is_refused(make_app: Any, live_server: Any) -> None:
    server = live_server(make_app(ws_auth_timeout_s=0.5)).url
    ws = connect(server, "/v1/ws")
    assert receive(ws)["data"]["code"] == "unauthorized"
    until_closed(ws)
    assert ws.close_reason == 4401


def test_a_plain_http_get_is_not_a_socket(client: Any, api: Any) -> None:
    resp = api.get("/v1/ws")
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"


def test_logout_ends_a_socket(server: str, api: Any, db: Any, redis_client: Any) -> None:
    task = api.new_task()
    ws = connect(server, f"/v1/tasks/{task['id']}/ws", api.token)
    receive(ws)
    sid = json.loads(_claims(api.token))["sid"]
    redis_client.set(revoked_sid_key(sid), "1")  # what auth's logout writes
    messages = until_closed(ws, timeout=10)
    assert messages == [
        {
            "event": "end",
            "data": {"reason": "token_revoked", "detail": messages[0]["data"]["detail"]},
        }
    ]
    assert ws.close_reason == 4401


def _claims(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def test_hundred_sockets_in_one_gevent_worker(
    gunicorn_gateway: str, token_minter: Any, db: Any, redis_client: Any
) -> None:
    token = token_minter.mint()

    def watch(task_id: str, opened: Any) -> str:
        ws = connect(gunicorn_gateway, f"/v1/tasks/{task_id}/ws", token)
        assert receive(ws, 30)["data"]["status"] == "running"
        opened.wait()
        return str(until_closed(ws, 60)[-1]["data"]["status"])

    finals = many_watchers(gunicorn_gateway, token, db, redis_client, SOCKETS, watch)
    assert finals == ["succeeded"] * SOCKETS
