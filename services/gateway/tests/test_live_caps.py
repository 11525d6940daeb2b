"""Live streams are capped per user, per client address and per process (429/503 beyond),
and a stream's place comes back when it ends, or when its lease runs out."""

from __future__ import annotations

import time
from typing import Any

from tests.helpers import Api


def _open(api: Api, task_id: str, ip: str = "127.0.0.1") -> Any:
    return api.get(f"/v1/tasks/{task_id}/events", buffered=False, environ_base={"REMOTE_ADDR": ip})


def _assert_capped(resp: Any, status: int = 429) -> None:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == ("rate_limited" if status == 429 else "unavailable")
    assert int(resp.headers["Retry-After"]) >= 1


def test_streams_per_user_are_capped_and_come_back(make_app: Any, token_minter: Any) -> None:
    client = make_app(live_streams_per_user=3, live_streams_per_address=100).test_client()
    ann, bob = Api(client, token_minter), Api(client, token_minter)
    task = ann.new_task()
    held = [_open(ann, task["id"]) for _ in range(3)]
    assert [r.status_code for r in held] == [200] * 3
    _assert_capped(_open(ann, task["id"]))
    # Another user is not affected...
    other = _open(bob, bob.new_task()["id"])
    assert other.status_code == 200
    # ...and a closed stream gives its place back.
    held.pop().close()
    again = _open(ann, task["id"])
    assert again.status_code == 200
    for resp in [*held, other, again]:
        resp.close()


def test_streams_per_address_are_capped(make_app: Any, token_minter: Any) -> None:
    client = make_app(live_streams_per_user=10, live_streams_per_address=4).test_client()
    users = [Api(client, token_minter) for _ in range(5)]
    tasks = [u.new_task()["id"] for u in users]
    held = [_open(u, t, ip="127.0.8.1") for u, t in zip(users[:4], tasks, strict=False)]
    assert [r.status_code for r in held] == [200] * 4
    _assert_capped(_open(users[4], tasks[4], ip="127.0.8.1"))
    assert _open(users[4], tasks[4], ip="127.0.8.2").status_code == 200
    for resp in held:
        resp.close()


def test_a_refused_stream_costs_no_place(make_app: Any, token_minter: Any) -> None:
    client = make_app(live_streams_per_user=2).test_client()
    ann = Api(client, token_minter)
    # 404s (a stranger's or unknown task) and 400s give their place back at once.
    for _ in range(5):
        assert _open(ann, "00000000-0000-4000-8000-000000000000").status_code == 404
    task = ann.new_task()
    held = [_open(ann, task["id"]) for _ in range(2)]
    assert [r.status_code for r in held] == [200, 200]
    for resp in held:
        resp.close()


def test_a_lost_lease_expires(make_app: Any, token_minter: Any, redis_client: Any) -> None:
    # A gateway that died with streams open never released them: their entries expire.
    client = make_app(live_streams_per_user=1).test_client()
    ann = Api(client, token_minter)
    task = ann.new_task()
    held = _open(ann, task["id"])
    _assert_capped(_open(ann, task["id"]))
    key = f"backdrop:live:user:{ann.user_id}"
    for member in redis_client.zrange(key, 0, -1):
        redis_client.zadd(key, {member: time.time() - 1})
    fresh = _open(ann, task["id"])
    assert fresh.status_code == 200
    held.close()
    fresh.close()


def test_a_full_process_answers_503(make_app: Any, token_minter: Any) -> None:
    client = make_app(sse_max_streams=2, live_streams_per_user=10).test_client()
    users = [Api(client, token_minter) for _ in range(3)]
    held = [_open(u, u.new_task()["id"]) for u in users[:2]]
    _assert_capped(_open(users[2], users[2].new_task()["id"]), status=503)
    for resp in held:
        resp.close()


def test_stream_ids_that_overflow_redis_are_400(api: Api) -> None:
    task = api.new_task()
    for bad in ("18446744073709551616", "1-18446744073709551616", "99999999999999999999-0"):
        resp = api.get(f"/v1/tasks/{task['id']}/events", headers={"Last-Event-ID": bad})
        assert resp.status_code == 400, bad
        assert resp.get_json()["code"] == "validation_error"
    ok = api.get(
        f"/v1/tasks/{task['id']}/events",
        headers={"Last-Event-ID": "18446744073709551615-18446744073709551615"},
        buffered=False,
    )
    assert ok.status_code == 200
    ok.close()
