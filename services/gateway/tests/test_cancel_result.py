"""Cancellation semantics and results with presigned artifact URLs."""

from __future__ import annotations

import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from backdrop_common import events, jobs, taskstore
from backdrop_common.wiring import EXTENSION
from backdrop_testing.tasks import job_ids

from tests.helpers import Api, start_running, succeed


def test_cancel_awaiting_upload_is_immediate(api: Any, redis_client: Any) -> None:
    task = api.new_task()
    resp = api.post(f"/v1/tasks/{task['id']}/cancel")
    assert resp.status_code == 202
    doc = resp.get_json()["task"]
    assert doc["status"] == "cancelled" and doc["finished_at"]
    assert not redis_client.exists(f"backdrop:cancel:{task['id']}")  # nothing to stop
    logged = events.read_events(redis_client, task["id"], None, 0)
    assert logged[-1][2]["status"] == "cancelled"


def test_cancel_before_upload_withdraws_it(api: Any, app: Any) -> None:
    storage = app.extensions[EXTENSION].storage
    big = api.create(size=100 * 1024 * 1024).get_json()
    assert big["upload"]["method"] == "MULTIPART"
    small = api.create(size=5).get_json()
    form = small["upload"]
    files = {"file": ("f", b"hello")}
    posted = requests.post(form["url"], data=form["fields"], files=files, timeout=30)
    assert posted.status_code in (200, 201, 204)
    for created in (big, small):
        assert api.post(f"/v1/tasks/{created['task']['id']}/cancel").status_code == 202
    uploads = storage.s3.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    assert [u for u in uploads if big["task"]["id"] in u["Key"]] == []  # parts now refused
    assert storage.head(form["fields"]["key"]) is None


def test_cancel_queued_is_immediate(api: Any, db: Any) -> None:
    task = api.new_task()
    taskstore.mark_queued(db, task["id"])
    resp = api.post(f"/v1/tasks/{task['id']}/cancel")
    assert resp.status_code == 202 and resp.get_json()["task"]["status"] == "cancelled"
    # A worker that picks the stale job up cannot claim it.
    assert taskstore.claim(db, task["id"], "w9", 60) is None


def test_cancel_of_a_sent_job_sends_the_owners_next_held_one(
    make_app: Any, token_minter: Any, db: Any, redis_client: Any
) -> None:
    """The cancelled job leaves its slot of the owner's fair share to their oldest held job."""
    api = Api(make_app(max_dispatched_per_user=1).test_client(), token_minter)
    first, held = (taskstore.mark_queued(db, api.new_task()["id"]) for _ in range(2))
    for row in (first, held):
        jobs.send_job(db, redis_client, row, max_dispatched=1)
    assert job_ids(redis_client) == [str(first["id"])]
    assert api.post(f"/v1/tasks/{first['id']}/cancel").status_code == 202
    assert job_ids(redis_client) == [str(first["id"]), str(held["id"])]


def test_cancel_running_signals_the_worker(api: Any, db: Any, redis_client: Any) -> None:
    task = api.new_task()
    start_running(db, task["id"])
    pubsub = redis_client.pubsub()
    pubsub.subscribe("backdrop:cancel")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    resp = api.post(f"/v1/tasks/{task['id']}/cancel")
    assert resp.status_code == 202
    doc = resp.get_json()["task"]
    assert doc["status"] == "running" and doc["cancel_requested"] is True
    message = None
    deadline = time.monotonic() + 5
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
    pubsub.close()
    assert message is not None and message["data"] == task["id"]
    key = f"backdrop:cancel:{task['id']}"
    assert redis_client.get(key) == "1"
    assert 0 < redis_client.ttl(key) <= 24 * 3600
    logged = events.read_events(redis_client, task["id"], None, 0)
    assert logged[-1][2]["cancel_requested"] is True


@pytest.mark.parametrize("final", ["succeeded", "failed", "cancelled"])
def test_cancel_finished_is_409(api: Any, db: Any, final: str) -> None:
    task = api.new_task()
    if final == "succeeded":
        succeed(db, task["id"], {"ok": True}, [])
    elif final == "failed":
        start_running(db, task["id"])
        taskstore.mark_failed(db, task["id"], "w1", "boom", "it broke")
    else:
        taskstore.request_cancel(db, task["id"], api.user_id)
    resp = api.post(f"/v1/tasks/{task['id']}/cancel")
    assert resp.status_code == 409
    assert resp.get_json()["code"] == "task_finished"


@pytest.mark.parametrize("state", ["awaiting_upload", "queued", "running", "cancelled"])
def test_result_before_success_is_409(api: Any, db: Any, state: str) -> None:
    task = api.new_task()
    if state == "queued":
        taskstore.mark_queued(db, task["id"])
    elif state == "running":
        start_running(db, task["id"])
    elif state == "cancelled":
        taskstore.request_cancel(db, task["id"], api.user_id)
    resp = api.get(f"/v1/tasks/{task['id']}/result")
    assert resp.status_code == 409
    assert resp.get_json()["code"] == "task_not_succeeded"


def test_result_has_presigned_artifact_urls(make_app: Any, token_minter: Any, db: Any) -> None:
    api = Api(make_app(result_url_ttl_s=120).test_client(), token_minter)
    task = api.new_task(processor="gzip", filename="data.csv")
    key = f"users/{api.user_id}/tasks/{task['id']}/artifacts/data.csv.gz"
    artifact = {"name": "data.csv.gz", "key": key, "size": 42, "content_type": "application/gzip"}
    succeed(db, task["id"], {"input_bytes": 100, "output_bytes": 42}, [artifact])
    before = datetime.now(UTC)
    resp = api.get(f"/v1/tasks/{task['id']}/result")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["task_id"] == task["id"]
    assert doc["result"] == {"input_bytes": 100, "output_bytes": 42}
    (art,) = doc["artifacts"]
    assert art["name"] == "data.csv.gz" and art["size"] == 42
    assert art["content_type"] == "application/gzip"
    url = urllib.parse.urlparse(art["url"])
    query = urllib.parse.parse_qs(url.query)
    assert url.path.endswith(f"/{task['id']}/artifacts/data.csv.gz")
    assert query["X-Amz-Expires"] == ["120"]
    assert "X-Amz-Signature" in query
    expires = datetime.fromisoformat(art["expires_at"].replace("Z", "+00:00"))
    assert 100 <= (expires - before).total_seconds() <= 125


def test_result_without_artifacts(api: Any, db: Any) -> None:
    task = api.new_task()
    succeed(db, task["id"], {"bytes": 0, "sha256": "e3b0"}, [])
    doc = api.get(f"/v1/tasks/{task['id']}/result").get_json()
    assert doc["artifacts"] == [] and doc["result"]["bytes"] == 0
