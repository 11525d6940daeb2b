"""Live progress over SSE, and cancellation as a client sees it."""

from __future__ import annotations

import os

import pytest
from backdrop_client import ApiError

from tests.helpers import User


def test_sse_until_terminal_and_resume(user: User) -> None:
    data = os.urandom(8 * 1024 * 1024)
    task = user.submit("checksum", data)
    events = list(user.client.events(task["id"]))
    assert events, "no events"
    assert events[-1].terminal and events[-1].task["status"] == "succeeded"
    ids = [e.id for e in events]
    assert all(ids), "every event has an id"
    # Reconnecting after the first event replays everything after it, in order.
    replay = list(user.client.events(task["id"], last_event_id=ids[0]))
    if len(events) > 1:
        assert [e.id for e in replay] == ids[1:]
    else:
        # The first stream was the finished task's snapshot alone. The gateway labels it with
        # the terminal event's id, waiting briefly for the worker to log it after its commit;
        # past that wait it keeps the id before, and the terminal event comes once more.
        assert len(replay) == 1 and replay[0].terminal
    assert replay[-1].task["status"] == "succeeded"


def test_cancel_before_upload_is_immediate(user: User) -> None:
    created = user.create_task("checksum", b"12345")
    assert user.client.cancel(created["task"]["id"])["status"] == "cancelled"
    with pytest.raises(ApiError) as again:
        user.client.cancel(created["task"]["id"])
    assert again.value.status == 409 and again.value.code == "task_finished"
