"""Live progress over SSE, and cancellation as a client sees it."""

from __future__ import annotations

import json
import os

from e2e_support import User


def _events(user: User, task_id: str, last_id: str | None = None) -> list[tuple[str, str, dict]]:
    headers = {"Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    out: list[tuple[str, str, dict]] = []
    with user.http.get(
        user.url(f"/v1/tasks/{task_id}/events"), headers=headers, stream=True, timeout=(5, 60)
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        ev: dict[str, str] = {}
        for line in resp.iter_lines(decode_unicode=True):
            if line == "":
                if "data" in ev:
                    out.append(
                        (ev.get("id", ""), ev.get("event", "message"), json.loads(ev["data"]))
                    )
                ev = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                ev[field] = value.lstrip(" ")
    return out


def test_sse_until_terminal_and_resume(user: User) -> None:
    data = os.urandom(8 * 1024 * 1024)
    task = user.submit("checksum", data)
    events = _events(user, task["id"])
    assert events, "no events"
    assert events[-1][2]["status"] == "succeeded"
    ids = [e[0] for e in events]
    assert all(ids), "every event has an id"
    # Reconnecting after the first event replays everything after it, in order.
    replay = _events(user, task["id"], last_id=ids[0])
    assert [e[0] for e in replay] == ids[1:]
    assert replay[-1][2]["status"] == "succeeded"


def test_cancel_before_upload_is_immediate(user: User) -> None:
    created = user.create_task("checksum", b"12345")
    resp = user.post(f"/v1/tasks/{created['task']['id']}/cancel")
    assert resp.status_code == 202
    assert resp.json()["task"]["status"] == "cancelled"
    again = user.post(f"/v1/tasks/{created['task']['id']}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "task_finished"
