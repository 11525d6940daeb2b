"""Live task events: the server-sent event stream, read as ``Event`` objects."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sseclient
from backdrop_contract.states import TERMINAL

from backdrop_client.transport import Transport


@dataclass(frozen=True)
class Event:
    """One event of a task's log: its resumable ``id``, ``kind`` and the ``Task`` then."""

    id: str
    kind: str
    task: dict[str, Any]

    @property
    def terminal(self) -> bool:
        """True for the status event that ends the task (and its stream)."""
        return self.kind == "status" and self.task.get("status") in TERMINAL


def read_stream(
    transport: Transport, path: str, last_event_id: str | None = None, read_timeout: float = 60.0
) -> Iterator[Event]:
    """Yield the events of one SSE connection to ``path`` until the server ends it."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    resp = transport.request("GET", path, headers=headers, stream=True, timeout=(5, read_timeout))
    try:
        # chunk_size=None hands bytes over as they arrive, so no event waits in a buffer.
        for message in sseclient.SSEClient(resp.iter_content(chunk_size=None)).events():
            if message.data:
                yield Event(message.id or "", message.event or "message", json.loads(message.data))
    finally:
        resp.close()


def follow_task(
    transport: Transport, task_id: str, last_event_id: str | None = None
) -> Iterator[Event]:
    """Yield a task's events until it is finished, reconnecting (with ``Last-Event-ID``,
    so nothing is missed or repeated) whenever the server ends a stream early."""
    while True:
        for event in read_stream(transport, f"/v1/tasks/{task_id}/events", last_event_id):
            last_event_id = event.id or last_event_id
            yield event
            if event.terminal:
                return
        # The server ended the stream early (its time limit, a restart): go on unless the
        # task finished in a part of the log this client had already read.
        if transport.json("GET", f"/v1/tasks/{task_id}")["status"] in TERMINAL:
            return


def poll_tasks(
    transport: Transport, interval: float = 1.0, limit: int = 100
) -> Iterator[dict[str, Any]]:
    """Yield each of the user's newest ``limit`` tasks whenever it changes, for ever.

    Polls ``GET /v1/tasks`` every ``interval`` seconds; a task is yielded when first seen
    and again after any change of status or progress (its ``updated_at`` or progress time);
    tasks already finished at the first poll are history, not news, and are skipped.
    """
    seen: dict[str, tuple[Any, ...]] = {}
    first = True
    while True:
        page = transport.json("GET", "/v1/tasks", params={"limit": limit})
        for task in reversed(page["items"]):  # oldest first, so lines read in time order
            progress = task.get("progress") or {}
            mark = (task["status"], task.get("updated_at"), progress.get("updated_at"))
            if seen.get(task["id"]) != mark:
                seen[task["id"]] = mark
                if not (first and task["status"] in TERMINAL):
                    yield task
        first = False
        time.sleep(interval)
