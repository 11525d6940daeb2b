"""``POST/GET /v1/tasks``: create, read, list with pagination and filters."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import requests
from backdrop_common import events, taskstore

from tests.helpers import Api, start_running, task_body


def test_create_returns_task_and_upload(make_app: Any, token_minter: Any, upload_stub: Any) -> None:
    api = Api(make_app(upload_url=upload_stub.url).test_client(), token_minter)
    resp = api.create(params={"algorithms": ["md5"]}, sha256="AB" * 32)
    assert resp.status_code == 201
    doc = resp.get_json()
    task = doc["task"]
    assert task["status"] == "awaiting_upload"
    assert task["processor"] == "checksum"
    assert task["params"] == {"algorithms": ["md5"]}
    assert task["sha256"] == "ab" * 32  # normalised to lower case
    assert task["size"] == 1234 and task["filename"] == "input.bin"
    for key in ("progress", "attempts", "cancel_requested", "error", "created_at", "updated_at"):
        assert key in task
    assert doc["upload"]["method"] == "POST"
    assert doc["upload"]["stream_url"].endswith(f"/v1/tasks/{task['id']}/content")
    # The upload service was asked with the user's own token.
    (call,) = upload_stub.calls
    assert call["path"] == f"/internal/tasks/{task['id']}/upload-instructions"
    assert call["headers"]["Authorization"] == f"Bearer {api.token}"


def test_defaults_of_builtin_params_are_filled(api: Any) -> None:
    task = api.new_task(processor="text-stats")
    assert task["params"] == {"top": 10}
    task = api.new_task(processor="image-thumbnail", params={"format": "png"})
    assert task["params"]["format"] == "png" and task["params"]["max_width"] > 0


def test_get_and_list_overlay_live_progress(api: Any, db: Any, redis_client: Any) -> None:
    waiting = api.new_task()
    task = api.new_task()
    start_running(db, task["id"])
    events.set_progress(redis_client, task["id"], 0.42, "hashing", "halfway")
    # Only while running: a cache left for a task that is not running is not shown.
    events.set_progress(redis_client, waiting["id"], 0.9, "stale", None)
    resp = api.get(f"/v1/tasks/{task['id']}")
    assert resp.mimetype == "application/json"
    doc = resp.get_json()
    assert doc["status"] == "running"
    assert doc["progress"]["fraction"] == pytest.approx(0.42)
    assert doc["progress"]["stage"] == "hashing"
    listed = api.get("/v1/tasks").get_json()
    assert [t["id"] for t in listed["items"]] == [task["id"], waiting["id"]]
    assert listed["items"][0] == doc
    assert listed["items"][1]["progress"] == waiting["progress"]
    assert listed["next_cursor"] is None


def test_a_huge_integer_in_params_survives_the_progress_overlay(
    api: Any, db: Any, redis_client: Any
) -> None:
    # A processor with a loose schema may keep an integer past 64 bits, which orjson refuses:
    # laying live progress over such a document must neither fail nor round it.
    huge = 2**70 + 1
    task = api.new_task()
    start_running(db, task["id"])
    with db.cursor() as cur:
        cur.execute(
            "UPDATE tasks.tasks SET params = %s::jsonb WHERE id = %s",
            (f'{{"n": {huge}}}', task["id"]),
        )
    events.set_progress(redis_client, task["id"], 0.5, "hashing", None)
    resp = api.get(f"/v1/tasks/{task['id']}")
    assert resp.status_code == 200
    assert resp.get_json()["params"] == {"n": huge}
    assert resp.get_json()["progress"]["fraction"] == 0.5
    (listed,) = api.get("/v1/tasks").get_json()["items"]
    assert listed["params"] == {"n": huge} and listed["progress"]["stage"] == "hashing"


def test_get_unknown_and_malformed_ids_are_404(api: Any) -> None:
    for path in (
        "/v1/tasks/00000000-0000-0000-0000-000000000000",
        "/v1/tasks/not-a-uuid",
        "/v1/tasks/1;DROP TABLE tasks",
        "/v1/tasks/not-a-uuid/cancel",
        "/v1/tasks/not-a-uuid/result",
        "/v1/tasks/not-a-uuid/events",
    ):
        resp = api.get(path) if not path.endswith("cancel") else api.post(path)
        assert resp.status_code == 404, path
        assert resp.mimetype == "application/problem+json"
        assert resp.get_json()["code"] == "not_found"


def test_requires_a_token(client: Any) -> None:
    resp = client.get("/v1/tasks")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = client.post("/v1/tasks", json={}, headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401


def test_list_is_newest_first_with_cursor(api: Any, make_api: Any) -> None:
    ids = [api.new_task(size=i)["id"] for i in range(7)]
    make_api().new_task()  # someone else's task never shows up
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/tasks", query_string=query).get_json()
        assert len(page["items"]) <= 3
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if not cursor:
            break
    assert seen == list(reversed(ids)) and pages == 3


def test_list_filters_by_status(api: Any, db: Any) -> None:
    keep = api.new_task()
    gone = api.new_task()
    taskstore.request_cancel(db, gone["id"], api.user_id)
    waiting = api.get("/v1/tasks?status=awaiting_upload").get_json()["items"]
    assert [t["id"] for t in waiting] == [keep["id"]]
    cancelled = api.get("/v1/tasks?status=cancelled").get_json()["items"]
    assert [t["id"] for t in cancelled] == [gone["id"]]
    default = api.get("/v1/tasks").get_json()
    assert len(default["items"]) == 2 and default["next_cursor"] is None
    empty = api.get("/v1/tasks?status=&limit=&cursor=").get_json()
    assert empty == default


@pytest.mark.parametrize(
    "query",
    [
        "status=done",
        "status=QUEUED",
        "limit=0",
        "limit=101",
        "limit=ten",
        "limit=1.5",
        "cursor=%00%01",
        "cursor=bm90LWpzb24",
        "unknown=1",
        "=&=x",  # found by fuzzing: the empty first value hid the nameless parameter
        "status=&status=done",
    ],
)
def test_list_rejects_bad_query(api: Any, query: str) -> None:
    for _ in range(2):  # and again: only a query that loads is remembered (load_query)
        resp = api.get(f"/v1/tasks?{query}")
        assert resp.status_code == 400, resp.get_data(as_text=True)
        assert resp.get_json()["code"] == "validation_error"


def test_a_remembered_query_still_answers_the_current_page(api: Any) -> None:
    # The gateway remembers the loaded query (taskops.load_query), never the page it found.
    first = api.new_task()
    assert [t["id"] for t in api.get("/v1/tasks?limit=1").get_json()["items"]] == [first["id"]]
    second = api.new_task()
    assert [t["id"] for t in api.get("/v1/tasks?limit=1").get_json()["items"]] == [second["id"]]


def test_list_limit_bounds(api: Any) -> None:
    for _ in range(3):
        api.new_task()
    assert len(api.get("/v1/tasks?limit=1").get_json()["items"]) == 1
    assert len(api.get("/v1/tasks?limit=100").get_json()["items"]) == 3


def test_creation_appends_a_status_event(api: Any, redis_client: Any) -> None:
    task = api.new_task()
    logged = events.read_events(redis_client, task["id"], None, 0)
    assert [(kind, doc["status"]) for _, kind, doc in logged] == [("status", "awaiting_upload")]


def test_quota_of_unfinished_tasks(make_app: Any, token_minter: Any) -> None:
    client = make_app(max_unfinished_tasks=3, quota_retry_after_s=7).test_client()
    user = Api(client, token_minter)
    first = [user.new_task() for _ in range(3)]
    resp = user.create()
    assert resp.status_code == 429
    assert resp.get_json()["code"] == "rate_limited"
    assert resp.headers["Retry-After"] == "7"
    # Finishing one frees a slot.
    assert user.post(f"/v1/tasks/{first[0]['id']}/cancel").status_code == 202
    assert user.create().status_code == 201


def test_quota_of_bytes_awaiting_upload(make_app: Any, token_minter: Any, db: Any) -> None:
    client = make_app(max_awaiting_upload_bytes=100, quota_retry_after_s=7).test_client()
    user = Api(client, token_minter)
    first = user.new_task(size=60)
    resp = user.create(size=41)
    assert resp.status_code == 429 and resp.get_json()["code"] == "rate_limited"
    assert resp.headers["Retry-After"] == "7"
    assert user.create(size=40).status_code == 201
    # Cancelling does not give the bytes back while the task's upload URLs may still work...
    assert user.post(f"/v1/tasks/{first['id']}/cancel").status_code == 202
    assert user.create(size=1).status_code == 429
    assert Api(client, token_minter).create(size=100).status_code == 201  # per user
    # ... only once its upload window has closed.
    with db.cursor() as cur:
        cur.execute(
            "UPDATE tasks.tasks SET upload_expires_at = now() WHERE id = %s", (first["id"],)
        )
    assert user.create(size=60).status_code == 201


def test_declared_size_over_the_limit_is_413(make_app: Any, token_minter: Any) -> None:
    user = Api(make_app(max_upload_bytes=1000).test_client(), token_minter)
    assert user.create(size=1000).status_code == 201
    resp = user.create(size=1001)
    assert resp.status_code == 413
    assert resp.get_json()["code"] == "payload_too_large"


def test_default_limit_is_one_gib(api: Any) -> None:
    assert api.create(size=1024**3).status_code == 201
    assert api.create(size=1024**3 + 1).status_code == 413


def test_upload_service_down_is_503_and_a_replay_recovers(
    make_app: Any, token_minter: Any, client: Any
) -> None:
    down = Api(make_app(upload_url="http://127.0.0.1:9").test_client(), token_minter)
    key = {"Idempotency-Key": "retry-me"}
    resp = down.create(headers=key)
    assert resp.status_code == 503
    assert resp.get_json()["code"] == "unavailable"
    assert "127.0.0.1" not in resp.get_data(as_text=True)
    (task,) = down.get("/v1/tasks").get_json()["items"]
    assert task["status"] == "awaiting_upload"
    # The same user, the upload service back: the replay hands out the instructions.
    up = Api(client, token_minter)
    up.headers = down.headers
    again = up.create(headers=key)
    assert again.status_code == 200
    assert again.get_json()["task"]["id"] == task["id"]
    assert again.get_json()["upload"]["method"] == "POST"


def _parallel_creates(url: str, token: str, bodies: int, **fields: Any) -> list[int]:
    """``bodies`` task creations by one user released at the same instant; their statuses."""
    headers = {"Authorization": f"Bearer {token}"}
    statuses: list[int] = []
    start = threading.Barrier(bodies, timeout=30)

    def create() -> None:
        start.wait()
        resp = requests.post(
            f"{url}/v1/tasks", json=task_body(**fields), headers=headers, timeout=60
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=create) for _ in range(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(statuses)


def test_parallel_creates_cannot_pass_the_cap(
    make_app: Any, token_minter: Any, live_server: Any, db: Any
) -> None:
    # 40 parallel creates against a cap of 20 used to make 31 tasks.
    server = live_server(make_app(max_unfinished_tasks=20))
    user = uuid.uuid4()
    statuses = _parallel_creates(server.url, token_minter.mint(user), 40)
    assert statuses == [201] * 20 + [429] * 20
    assert taskstore.count_unfinished(db, user) == 20


def test_parallel_creates_cannot_pass_the_byte_quota(
    make_app: Any, token_minter: Any, live_server: Any, db: Any
) -> None:
    # The awaiting-upload byte quota is checked under the same creation lock: 40 racing
    # creates of 10 bytes against 200 bytes may not declare a byte more.
    server = live_server(make_app(max_unfinished_tasks=1000, max_awaiting_upload_bytes=200))
    user = uuid.uuid4()
    statuses = _parallel_creates(server.url, token_minter.mint(user), 40, size=10)
    assert statuses == [201] * 20 + [429] * 20
    assert taskstore.awaiting_upload_bytes(db, user) == 200
