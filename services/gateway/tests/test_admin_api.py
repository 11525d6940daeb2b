"""The operators' API: queues, workers, tasks across users, dead letters, bulk actions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from backdrop_common import jobs, redis_keys, taskstore

from tests.helpers import Api


@pytest.fixture
def operator(make_api: Callable[..., Api]) -> Api:
    """A signed-in operator."""
    return make_api(roles=("operator",))


def _task(db: Any, processor: str, owner: uuid.UUID | None = None) -> dict[str, Any]:
    row, _ = taskstore.create_task(
        db,
        owner_id=owner or uuid.uuid4(),
        processor=processor,
        params={},
        filename="in.txt",
        size=3,
        content_type="text/plain",
        sha256=None,
        idempotency_key=None,
        request_hash=None,
        upload_window_s=600,
    )
    return row


def _queued(db: Any, processor: str, owner: uuid.UUID | None = None) -> str:
    task_id = str(_task(db, processor, owner)["id"])
    assert taskstore.mark_queued(db, task_id) is not None
    return task_id


def _failed(db: Any, processor: str, owner: uuid.UUID | None = None) -> str:
    task_id = _queued(db, processor, owner)
    assert taskstore.claim(db, task_id, "w1", 60) is not None
    assert taskstore.mark_failed(db, task_id, "w1", "bad_input", "not a PNG") is not None
    return task_id


def test_queues_show_stream_and_table(operator: Api, db: Any, redis_client: Any) -> None:
    proc = f"q-{uuid.uuid4().hex[:8]}"
    owner = uuid.uuid4()
    first, second, third = (_queued(db, proc, owner) for _ in range(3))
    jobs.ensure_group(redis_client, proc)
    # As upload does for each: the third waits, over the owner's share of 2.
    for row in [taskstore.get_task(db, task_id) for task_id in (first, second, third)]:
        jobs.send_job(db, redis_client, row, max_dispatched=2)
    # A worker "w-a" reads one message and claims its task; one stays undelivered.
    redis_client.xreadgroup(
        redis_keys.JOB_GROUP, "w-a", {redis_keys.job_stream(proc): ">"}, count=1
    )
    assert taskstore.claim(db, first, "w-a", 60) is not None
    done = _queued(db, proc)
    taskstore.claim(db, done, "w-a", 60)
    taskstore.mark_succeeded(db, done, "w-a", {"ok": True}, [])

    doc = operator.get("/v1/admin/queues?minutes=5").get_json()
    queue = next(q for q in doc["items"] if q["processor"] == proc)
    assert queue["stream"] == f"backdrop:jobs:{proc}"
    assert (queue["length"], queue["lag"], queue["pending"]) == (2, 1, 1)
    assert [c["name"] for c in queue["consumers"]] == ["w-a"]
    assert queue["consumers"][0]["pending"] == 1
    assert 0 <= queue["oldest_undelivered_age_s"] < 60
    assert (queue["queued"], queue["held"], queue["running"]) == (2, 1, 1)
    assert 0 <= queue["oldest_waiting_age_s"] < 60
    assert len(doc["throughput"]) == 5
    assert doc["throughput"][-1]["succeeded"] >= 1
    assert doc["tasks_by_status"]["queued"] >= 2
    bad = operator.get("/v1/admin/queues?minutes=0")
    assert bad.status_code == 400 and bad.get_json()["code"] == "validation_error"


def test_a_processor_without_a_stream_shows_an_empty_queue(operator: Api, db: Any) -> None:
    proc = f"q-{uuid.uuid4().hex[:8]}"
    _queued(db, proc)  # queued in the table, never sent (the sweeper's relay will)
    queue = next(
        q for q in operator.get("/v1/admin/queues").get_json()["items"] if q["processor"] == proc
    )
    assert (queue["length"], queue["pending"], queue["consumers"]) == (0, 0, [])
    assert queue["queued"] == 1


def test_workers_live_and_silent(operator: Api, db: Any, redis_client: Any) -> None:
    proc = f"q-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    redis_client.hset(
        "backdrop:workers:w-live",
        mapping={
            "worker_id": "w-live",
            "processors": json.dumps([proc]),
            "concurrency": 2,
            "jobs": json.dumps([]),
            "started_at": now,
            "host": "node-1",
            "pid": 4242,
            "health_port": 9101,
            "last_seen": now,
        },
    )
    redis_client.expire("backdrop:workers:w-live", 30)
    jobs.ensure_group(redis_client, proc)
    held, other = _queued(db, proc), _queued(db, proc)
    for consumer, task_id in (("w-gone", held), ("w-live", other)):
        # Each takes one job; w-gone then dies holding its message and its task's lease.
        jobs.enqueue_job(redis_client, proc, task_id)
        redis_client.xreadgroup(redis_keys.JOB_GROUP, consumer, {redis_keys.job_stream(proc): ">"})
        taskstore.claim(db, task_id, consumer, 60)

    doc = operator.get("/v1/admin/workers").get_json()
    live = next(w for w in doc["live"] if w["worker_id"] == "w-live")
    assert live["processors"] == [proc] and live["concurrency"] == 2 and live["pid"] == 4242
    assert live["health_url"] == "http://node-1:9101/healthz"
    assert 0 <= live["last_seen_age_s"] < 30
    silent = {w["worker_id"]: w for w in doc["silent"]}
    assert "w-live" not in silent
    assert silent["w-gone"]["pending"] == 1 and silent["w-gone"]["running_tasks"] == 1


def test_search_across_owners_with_filters(operator: Api, db: Any) -> None:
    proc = f"s-{uuid.uuid4().hex[:8]}"
    ann, bob = uuid.uuid4(), uuid.uuid4()
    a1 = _queued(db, proc, ann)
    b1 = _failed(db, proc, bob)
    b2 = str(_task(db, proc, bob)["id"])

    def ids(query: str) -> list[str]:
        resp = operator.get(f"/v1/admin/tasks?processor={proc}&{query}")
        assert resp.status_code == 200, resp.get_json()
        return [t["id"] for t in resp.get_json()["items"]]

    assert ids("") == [b2, b1, a1]
    assert ids(f"owner_id={bob}") == [b2, b1]
    assert ids("status=failed") == [b1]
    assert ids("status=&owner_id=") == [b2, b1, a1]  # empty means not given
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert ids(f"created_after={soon.replace('+', '%2B')}") == []
    assert ids(f"created_before={soon.replace('+', '%2B')}") == [b2, b1, a1]
    page = operator.get(f"/v1/admin/tasks?processor={proc}&limit=2").get_json()
    assert [t["id"] for t in page["items"]] == [b2, b1]
    assert page["items"][0]["owner_id"] == str(bob)
    rest = operator.get(f"/v1/admin/tasks?processor={proc}&cursor={page['next_cursor']}")
    assert [t["id"] for t in rest.get_json()["items"]] == [a1]
    for bad in ("status=done", "owner_id=nope", "created_after=yesterday", "limit=500", "x=1"):
        resp = operator.get(f"/v1/admin/tasks?{bad}")
        assert resp.status_code == 400 and resp.mimetype == "application/problem+json", bad
    one = operator.get(f"/v1/admin/tasks/{b1}").get_json()
    assert one["error"] == {"code": "bad_input", "message": "not a PNG"}
    assert one["worker_id"] == "w1" and one["owner_id"] == str(bob)
    assert operator.get(f"/v1/admin/tasks/{uuid.uuid4()}").status_code == 404


def test_one_query_string_is_loaded_by_each_route_s_own_schema(operator: Api) -> None:
    # The gateway remembers loaded queries (taskops.load_query) per schema: ?limit=150 is a
    # valid search of every owner's tasks (up to 200) and too many for one's own list (100),
    # in either order.
    for _ in range(2):
        assert operator.get("/v1/admin/tasks?limit=150").status_code == 200
        assert operator.get("/v1/tasks?limit=150").status_code == 400


def test_dead_letters_and_bulk_retry(operator: Api, db: Any, make_api: Any) -> None:
    proc = f"d-{uuid.uuid4().hex[:8]}"
    owner = make_api()
    failed = _failed(db, proc, owner.user_id)  # a final failure: failed, not a dead letter
    dead = _queued(db, proc, owner.user_id)
    assert taskstore.claim(db, dead, "w1", 60) is not None
    taskstore.mark_failed(db, dead, "w1", "retries_exhausted", "crashed on every attempt")
    ok = _queued(db, proc)
    letters = operator.get(f"/v1/admin/dead-letters?processor={proc}").get_json()["items"]
    assert [t["id"] for t in letters] == [dead]
    assert letters[0]["error"]["code"] == "retries_exhausted" and letters[0]["attempts"] == 1
    every_failed = operator.get(f"/v1/admin/tasks?processor={proc}&status=failed").get_json()
    assert {t["id"] for t in every_failed["items"]} == {failed, dead}
    assert operator.get("/v1/admin/queues").get_json()["dead_letters"] >= 1

    missing = str(uuid.uuid4())
    resp = operator.post("/v1/admin/tasks/retry", json={"ids": [failed, dead, ok, missing, failed]})
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [(r["id"], r["outcome"]) for r in results] == [
        (failed, "retried"),
        (dead, "retried"),
        (ok, "not_failed"),
        (missing, "not_found"),
    ]
    assert results[0]["task"]["status"] == "queued" and results[0]["task"]["attempts"] == 0
    assert operator.get(f"/v1/admin/dead-letters?processor={proc}").get_json()["items"] == []
    # The owner sees it queued again; its job is due for the sweeper's relay now.
    assert owner.get(f"/v1/tasks/{failed}").get_json()["status"] == "queued"
    row = taskstore.get_task(db, failed)
    assert row is not None and row["enqueued_at"] is None
    assert row["next_attempt_at"] <= datetime.now(UTC)


def test_bulk_cancel(operator: Api, db: Any) -> None:
    proc = f"c-{uuid.uuid4().hex[:8]}"
    queued = _queued(db, proc)
    running = _queued(db, proc)
    taskstore.claim(db, running, "w1", 60)
    failed = _failed(db, proc)
    results = operator.post(
        "/v1/admin/tasks/cancel", json={"ids": [queued, running, failed]}
    ).get_json()["results"]
    assert [r["outcome"] for r in results] == ["cancelled", "cancel_requested", "finished"]
    assert results[1]["task"]["cancel_requested"] is True


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": []}, {"ids": ["nope"]}, {"ids": [str(uuid.uuid4())] * 101}, {"ids": 3}, []],
)
def test_bulk_bodies_are_validated(operator: Api, body: Any) -> None:
    for action in ("retry", "cancel"):
        resp = operator.post(f"/v1/admin/tasks/{action}", json=body)
        assert resp.status_code == 400 and resp.get_json()["code"] == "validation_error"
