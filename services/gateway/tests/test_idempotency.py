"""``Idempotency-Key``: replays, mismatches, concurrent duplicates, scope per user."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.helpers import Api, task_body


def test_replay_returns_the_same_task_with_200(api: Any) -> None:
    key = {"Idempotency-Key": "abc-123"}
    first = api.create(headers=key)
    again = api.create(headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["task"]["id"] == again.get_json()["task"]["id"]
    assert again.get_json()["upload"]["method"] == "POST"  # instructions again
    assert len(api.get("/v1/tasks").get_json()["items"]) == 1


def test_same_meaning_spelled_differently_is_a_replay(api: Any) -> None:
    key = {"Idempotency-Key": "k"}
    first = api.create(headers=key)
    # Defaults spelled out and a differently-cased digest mean the same request.
    again = api.create(headers=key, params={"algorithms": ["sha256"]})
    assert again.status_code == 200
    assert again.get_json()["task"]["id"] == first.get_json()["task"]["id"]


@pytest.mark.parametrize(
    "change",
    [
        {"size": 1235},
        {"filename": "other.bin"},
        {"processor": "gzip"},
        {"params": {"algorithms": ["md5"]}},
    ],
)
def test_same_key_other_body_is_422(api: Any, change: dict[str, Any]) -> None:
    key = {"Idempotency-Key": "k1"}
    assert api.create(headers=key).status_code == 201
    resp = api.create(headers=key, **change)
    assert resp.status_code == 422
    assert resp.get_json()["code"] == "idempotency_mismatch"


def test_keys_are_scoped_to_the_user(api: Any, make_api: Any) -> None:
    key = {"Idempotency-Key": "shared"}
    mine = api.create(headers=key).get_json()["task"]["id"]
    theirs = make_api().create(headers=key)
    assert theirs.status_code == 201
    assert theirs.get_json()["task"]["id"] != mine


def test_replay_is_answered_even_at_the_quota(make_app: Any, token_minter: Any) -> None:
    user = Api(make_app(max_unfinished_tasks=1).test_client(), token_minter)
    key = {"Idempotency-Key": "once"}
    assert user.create(headers=key).status_code == 201
    assert user.create(headers=key).status_code == 200
    assert user.create(headers={"Idempotency-Key": "twice"}).status_code == 429


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é", "del\x7f"])
def test_bad_keys_are_400(api: Any, key: str) -> None:
    try:
        resp = api.create(headers={"Idempotency-Key": key})
    except ValueError:
        pytest.skip("the test client refuses this header value itself")
    assert resp.status_code == 400
    assert "Idempotency-Key" in resp.get_json()["errors"]


def test_longest_printable_key_is_fine(api: Any) -> None:
    assert api.create(headers={"Idempotency-Key": "~" * 255}).status_code == 201


def test_twenty_concurrent_duplicates_make_one_task(make_app: Any, token_minter: Any) -> None:
    # Enough pooled connections for 20 simultaneous requests (the pool does not queue).
    app = make_app(db_pool_max=30)
    token = token_minter.mint()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "race"}
    barrier = threading.Barrier(20)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker() -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post("/v1/tasks", json=task_body(), headers=headers)
        with lock:
            results.append((resp.status_code, resp.get_json()["task"]["id"]))

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 20
    assert len({task_id for _, task_id in results}) == 1
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1 and codes.count(200) == 19
    listed = app.test_client().get("/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert len(listed.get_json()["items"]) == 1
