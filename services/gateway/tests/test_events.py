"""``GET /v1/tasks/<id>/events``: snapshot first, the log in order, resume, keep-alive, end."""

from __future__ import annotations

import threading
import time
from typing import Any

from backdrop_common import events, taskstore

from tests.helpers import Api, parse, start_running


def open_stream(api: Any, task_id: str, **headers: str) -> Any:
    resp = api.get(f"/v1/tasks/{task_id}/events", headers=headers, buffered=False)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def collect(resp: Any) -> list[dict[str, Any]]:
    return [m for m in parse(resp.response) if "data" in m]


def doc(db: Any, task_id: str, **changes: Any) -> dict[str, Any]:
    row = taskstore.get_task(db, task_id)
    assert row is not None
    return {**taskstore.task_json(row), **changes}


def test_headers_and_snapshot_of_a_finished_task(api: Any) -> None:
    task = api.new_task()
    api.post(f"/v1/tasks/{task['id']}/cancel")
    resp = open_stream(api, task["id"])
    assert resp.mimetype == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Accel-Buffering"] == "no"
    messages = collect(resp)
    # A finished task: just its state, then the stream ends.
    assert len(messages) == 1
    assert messages[0]["event"] == "status" and messages[0]["data"]["status"] == "cancelled"
    assert messages[0]["id"] != ""


def test_live_events_in_order_until_terminal(api: Any, db: Any, redis_client: Any) -> None:
    task = api.new_task()
    start_running(db, task["id"])
    resp = open_stream(api, task["id"])
    stream = parse(resp.response)
    first = next(stream)
    assert first["event"] == "status" and first["data"]["status"] == "running"
    appended: list[str] = []

    def drive() -> None:
        time.sleep(0.2)
        for i in range(1, 4):
            d = doc(db, task["id"], progress={"fraction": i / 4, "stage": "s", "message": None})
            appended.append(events.append_event(redis_client, task["id"], "progress", d))
        row = taskstore.mark_succeeded(db, task["id"], "w1", {"ok": 1}, [])
        assert row is not None
        appended.append(
            events.append_event(redis_client, task["id"], "status", taskstore.task_json(row))
        )

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    rest = [m for m in stream if "data" in m]
    driver.join(5)
    assert [m["id"] for m in rest] == appended
    assert [m["event"] for m in rest] == ["progress", "progress", "progress", "status"]
    assert [m["data"]["progress"]["fraction"] for m in rest[:3]] == [0.25, 0.5, 0.75]
    assert rest[-1]["data"]["status"] == "succeeded"


def test_resume_with_last_event_id_misses_nothing(api: Any, db: Any, redis_client: Any) -> None:
    task = api.new_task()
    start_running(db, task["id"])
    ids = [
        events.append_event(redis_client, task["id"], "progress", doc(db, task["id"]))
        for _ in range(5)
    ]
    row = taskstore.mark_succeeded(db, task["id"], "w1", {}, [])
    final = events.append_event(redis_client, task["id"], "status", taskstore.task_json(row))
    for how in ("header", "query"):
        if how == "header":
            resp = open_stream(api, task["id"], **{"Last-Event-ID": ids[1]})
        else:
            url = f"/v1/tasks/{task['id']}/events?last_event_id={ids[1]}"
            resp = api.get(url, buffered=False)
        messages = collect(resp)
        # No snapshot on resume: everything after the client's id, in order, ending terminal.
        assert [m["id"] for m in messages] == [*ids[2:], final]
        assert messages[-1]["data"]["status"] == "succeeded"


def test_resume_of_finished_task_with_nothing_newer_ends_on_final_state(
    api: Any, db: Any, redis_client: Any
) -> None:
    task = api.new_task()
    start_running(db, task["id"])
    row = taskstore.mark_succeeded(db, task["id"], "w1", {}, [])
    final = events.append_event(redis_client, task["id"], "status", taskstore.task_json(row))
    messages = collect(open_stream(api, task["id"], **{"Last-Event-ID": final}))
    assert len(messages) == 1
    assert messages[0]["id"] == final and messages[0]["data"]["status"] == "succeeded"


def test_fresh_connection_starts_after_the_latest_event(
    api: Any, db: Any, redis_client: Any
) -> None:
    task = api.new_task()
    start_running(db, task["id"])
    old = events.append_event(redis_client, task["id"], "progress", doc(db, task["id"]))
    resp = open_stream(api, task["id"])
    stream = parse(resp.response)
    snapshot = next(stream)
    assert snapshot["id"] == old  # the snapshot already covers the old event
    row = taskstore.mark_failed(db, task["id"], "w1", "bad_input", "nope")
    new = events.append_event(redis_client, task["id"], "status", taskstore.task_json(row))
    rest = [m for m in stream if "data" in m]
    assert [m["id"] for m in rest] == [new]
    assert rest[0]["data"]["error"] == {"code": "bad_input", "message": "nope"}


def test_snapshot_of_a_just_finished_task_carries_its_terminal_event_id(
    api: Any, db: Any, redis_client: Any
) -> None:
    # The worker commits the final state, then logs it: a client connecting in between must
    # not get an id from before the terminal event, or resuming after it repeats the end.
    task = api.new_task()
    start_running(db, task["id"])
    events.append_event(redis_client, task["id"], "progress", doc(db, task["id"]))
    row = taskstore.mark_succeeded(db, task["id"], "w1", {}, [])
    assert row is not None
    logged: list[str] = []

    def log_it_late() -> None:
        time.sleep(0.15)
        logged.append(
            events.append_event(redis_client, task["id"], "status", taskstore.task_json(row))
        )

    late = threading.Thread(target=log_it_late, daemon=True)
    late.start()
    messages = collect(open_stream(api, task["id"]))
    late.join(5)
    assert [m["id"] for m in messages] == logged
    assert messages[0]["data"]["status"] == "succeeded"
    resumed = collect(open_stream(api, task["id"], **{"Last-Event-ID": logged[0]}))
    assert [m["id"] for m in resumed] == logged  # only the final state, not a second end


def test_snapshot_of_a_long_finished_task_does_not_wait_for_a_lost_event(
    api: Any, db: Any, redis_client: Any
) -> None:
    task = api.new_task()
    start_running(db, task["id"])
    progress = events.append_event(redis_client, task["id"], "progress", doc(db, task["id"]))
    taskstore.mark_succeeded(db, task["id"], "w1", {}, [])  # its event never reached the log
    db.run(
        lambda cur: cur.execute(
            "UPDATE tasks.tasks SET finished_at = now() - interval '1 hour' WHERE id = %s",
            (task["id"],),
        )
    )
    started = time.monotonic()
    messages = collect(open_stream(api, task["id"]))
    assert time.monotonic() - started < 0.4
    assert [m["id"] for m in messages] == [progress]
    assert messages[0]["data"]["status"] == "succeeded"


def test_keepalive_and_end_from_the_database(api: Any, db: Any) -> None:
    # settings: keep-alive every 0.5 s, row read every 1 s; a terminal state that never
    # reached the log still ends the stream (the row is the truth).
    task = api.new_task()
    start_running(db, task["id"])
    resp = open_stream(api, task["id"])
    stream = parse(resp.response)
    next(stream)
    comment = next(stream)
    assert comment == {"comment": "keep-alive"}
    taskstore.mark_succeeded(db, task["id"], "w1", {}, [])
    rest = [m for m in stream if "data" in m]
    assert rest[-1]["data"]["status"] == "succeeded"


def test_bad_last_event_id_is_400(api: Any) -> None:
    task = api.new_task()
    resp = api.get(f"/v1/tasks/{task['id']}/events", headers={"Last-Event-ID": "$; FLUSHALL"})
    assert resp.status_code == 400


def test_many_streams_at_once(make_app: Any, token_minter: Any, db: Any, redis_client: Any) -> None:
    api = Api(make_app(live_streams_per_user=20).test_client(), token_minter)
    task = api.new_task()
    start_running(db, task["id"])
    results: list[list[str]] = []
    lock = threading.Lock()
    ready = threading.Barrier(21, timeout=30)

    def watch() -> None:
        resp = open_stream(api, task["id"])
        stream = parse(resp.response)
        next(stream)
        ready.wait()
        got = [m["data"]["status"] for m in stream if "data" in m]
        with lock:
            results.append(got)

    threads = [threading.Thread(target=watch) for _ in range(20)]
    for t in threads:
        t.start()
    ready.wait()
    row = taskstore.mark_succeeded(db, task["id"], "w1", {}, [])
    events.append_event(redis_client, task["id"], "status", taskstore.task_json(row))
    for t in threads:
        t.join(15)
    assert results == [["succeeded"]] * 20
