"""``GET /v1/events`` (all my tasks, filtered, resumable) and the end of any stream when its
token expires or is revoked."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from backdrop_common import events, taskstore
from backdrop_common.redis_keys import revoked_sid_key

from tests.helpers import Api, parse, start_running


def _finish(db: Any, redis_client: Any, task_id: str) -> None:
    """Run then succeed a task, publishing both transitions as the services do."""
    events.publish_status(redis_client, start_running(db, task_id))
    events.publish_status(redis_client, taskstore.mark_succeeded(db, task_id, "w1", {}, []))


def _messages(api: Any, path: str, count: int, **headers: str) -> list[dict[str, Any]]:
    resp = api.get(path, headers=headers, buffered=False)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = []
    for message in parse(resp.response):
        if "data" in message:
            out.append(message)
        if len(out) == count:
            break
    resp.close()
    return out


def test_all_my_tasks_in_one_stream_resumable(
    api: Api, make_api: Any, db: Any, redis_client: Any
) -> None:
    first, second, stranger = api.new_task(), api.new_task(), make_api().new_task()
    _finish(db, redis_client, first["id"])
    _finish(db, redis_client, second["id"])
    _finish(db, redis_client, stranger["id"])
    # Resumed from the start of the log: my events in order (creation included), nobody
    # else's; the per-user log has ids of its own.
    got = _messages(api, "/v1/events", 6, **{"Last-Event-ID": "0"})
    assert [(m["data"]["id"], m["data"]["status"]) for m in got] == [
        (first["id"], "awaiting_upload"),
        (second["id"], "awaiting_upload"),
        (first["id"], "running"),
        (first["id"], "succeeded"),
        (second["id"], "running"),
        (second["id"], "succeeded"),
    ]
    ids = [m["id"] for m in got]
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))
    # Resumed after the third: exactly the rest.
    rest = _messages(api, "/v1/events", 3, **{"Last-Event-ID": ids[2]})
    assert [m["id"] for m in rest] == ids[3:]


def test_filters_by_status_and_processor(api: Api, db: Any, redis_client: Any) -> None:
    task = api.new_task()
    _finish(db, redis_client, task["id"])
    got = _messages(
        api, "/v1/events?status=succeeded&processor=checksum", 1, **{"Last-Event-ID": "0"}
    )
    assert [m["data"]["status"] for m in got] == ["succeeded"]
    resp = api.get("/v1/events?processor=nope&last_event_id=0", buffered=False)
    chunks = []
    for chunk in resp.response:
        chunks.append(chunk)
        if b"keep-alive" in chunk:
            break  # idle: the checksum events were filtered out
    resp.close()
    assert b"data:" not in b"".join(chunks)


def test_bad_filters_are_400(api: Api) -> None:
    for query in ("status=done", "processor=Bad%20Name"):
        resp = api.get(f"/v1/events?{query}")
        assert resp.status_code == 400
        assert resp.get_json()["code"] == "validation_error"


def test_a_fresh_stream_starts_with_what_happens_next(api: Api, db: Any, redis_client: Any) -> None:
    old = api.new_task()
    _finish(db, redis_client, old["id"])
    resp = api.get("/v1/events", buffered=False)
    stream = parse(resp.response)
    assert next(stream) == {"retry": "2000"}
    new = api.new_task()
    message = next(m for m in stream if "data" in m)
    assert (message["data"]["id"], message["data"]["status"]) == (new["id"], "awaiting_upload")
    resp.close()


def _sid(token: str) -> str:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sid"])


def test_logout_ends_an_open_stream_with_an_end_event(
    make_app: Any, token_minter: Any, redis_client: Any
) -> None:
    api = Api(make_app(live_auth_check_s=0.3).test_client(), token_minter)
    task = api.new_task()
    resp = api.get(f"/v1/tasks/{task['id']}/events", buffered=False)
    stream = parse(resp.response)
    assert next(stream)["event"] == "status"
    started = time.monotonic()
    redis_client.set(revoked_sid_key(_sid(api.token)), "1")  # what auth's logout writes
    end = next(m for m in stream if "data" in m)
    assert end["event"] == "end" and end["data"]["reason"] == "token_revoked"
    assert "id" not in end  # a later resume keeps the last real event's id
    assert time.monotonic() - started < 5
    assert list(stream) == []  # and the stream is closed


def test_a_stream_ends_when_its_token_expires(client: Any, token_minter: Any, db: Any) -> None:
    api = Api(client, token_minter)
    api.token = token_minter.mint(api.user_id, ttl=2)
    api.headers = {"Authorization": f"Bearer {api.token}"}
    started = time.monotonic()
    resp = api.get("/v1/events", buffered=False)
    end = next(m for m in parse(resp.response) if "data" in m)
    assert end["event"] == "end" and end["data"]["reason"] == "token_expired"
    assert 0.5 < time.monotonic() - started < 6
