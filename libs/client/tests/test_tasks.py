"""The task calls against the real services: every upload method, polling, events."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from backdrop_client import TERMINAL, ApiError, Client


def test_submit_bytes_presigned_post_then_wait(client: Client) -> None:
    data = os.urandom(200_000)
    sent: list[int] = []
    task = client.submit("checksum", data, on_bytes=sent.append)
    assert task["status"] in ("queued", "running", "succeeded")
    assert sum(sent) == len(data)  # the progress callback saw every byte go out
    done = client.wait(task["id"], timeout=60)
    assert done["status"] == "succeeded"
    assert client.result(task["id"])["result"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_multipart_upload_of_a_file(client: Client, tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "big.bin"  # type: ignore[operator]
    data = os.urandom(17 * 1024 * 1024)  # 3 parts of 8 MiB, the last one 1 MiB
    path.write_bytes(data)
    created = client.create_task("checksum", "big.bin", len(data))
    upload = created["upload"]
    assert upload["method"] == "MULTIPART" and len(upload["parts"]) == 3
    stored: list[int] = []
    task = client.upload(
        created["task"]["id"], upload, path, on_part=lambda n, _etag: stored.append(n)
    )
    assert stored == [1, 2, 3]
    assert task["status"] in ("queued", "running", "succeeded")
    done = client.wait(task["id"], timeout=60)
    assert client.result(done["id"])["result"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_stream_content_from_chunks(client: Client) -> None:
    chunks = [b"a" * 70_000, b"b" * 30_000]
    created = client.create_task("checksum", "s.bin", 100_000)
    task = client.stream_content(created["task"]["id"], iter(chunks), size=100_000)
    assert task["status"] in ("queued", "running", "succeeded")
    assert client.wait(task["id"], timeout=60)["status"] == "succeeded"


def test_upload_without_instructions_streams(client: Client) -> None:
    created = client.create_task("text-stats", "t.txt", 12, "text/plain")
    task = client.upload(created["task"]["id"], None, io.BytesIO(b"hello world\n"))
    assert client.wait(task["id"], timeout=60)["status"] == "succeeded"


def test_events_follow_to_the_end_and_resume(client: Client) -> None:
    task = client.submit("gzip", os.urandom(3 * 1024 * 1024), params={"level": 1})
    events = list(client.events(task["id"]))
    assert events[-1].terminal and events[-1].task["status"] == "succeeded"
    assert all(e.id for e in events)
    replay = list(client.events(task["id"], last_event_id=events[0].id))
    assert [e.id for e in replay] == [e.id for e in events[1:]]


def test_list_cancel_and_errors(client: Client) -> None:
    ids = [client.create_task("checksum", f"{i}.bin", 5)["task"]["id"] for i in range(3)]
    assert [t["id"] for t in client.list_tasks(limit=2)] == ids[::-1]
    assert client.cancel(ids[0])["status"] == "cancelled"
    with pytest.raises(ApiError) as finished:
        client.cancel(ids[0])
    assert finished.value.status == 409 and finished.value.code == "task_finished"
    with pytest.raises(ApiError) as early:
        client.result(ids[1])
    assert early.value.code == "task_not_succeeded"


def test_validation_problem_names_each_field(client: Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.create_task("checksum", "a.bin", -1, params={"algorithms": ["crc0"]})
    err = caught.value
    assert err.status == 400 and err.code == "validation_error"
    assert "size" in err.field_errors
    assert "size:" in str(err)  # the one-line summary names the field


def test_wait_times_out_on_an_unfinished_task(client: Client) -> None:
    task = client.create_task("checksum", "never.bin", 10)["task"]
    with pytest.raises(TimeoutError, match="awaiting_upload"):
        client.wait(task["id"], timeout=0.3)
    assert task["status"] not in TERMINAL
