"""Live task events: the server-sent event streams, read as ``Event`` objects.

Two streams: one task's (``GET /v1/tasks/{id}/events``, ends after a terminal status) and
all of the user's tasks (``GET /v1/events``, runs until the server's maximum duration).
Either may close with an ``end`` event when the access token expires or is revoked; the
followers here renew the token (or raise) and resume after the last event id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sseclient
from backdrop_contract.states import TERMINAL

from backdrop_client.errors import ApiError
from backdrop_client.transport import Transport


@dataclass(frozen=True)
class Event:
    """One event of a stream: its resumable ``id``, ``kind`` (``status``, ``progress``) and
    the ``Task`` then (for ``end``, no id and ``{reason, detail}``)."""

    id: str
    kind: str
    task: dict[str, Any]

    @property
    def terminal(self) -> bool:
        """True for the status event that ends the task (and its stream)."""
        return self.kind == "status" and self.task.get("status") in TERMINAL


def read_stream(
    transport: Transport,
    path: str,
    last_event_id: str | None = None,
    read_timeout: float = 60.0,
    params: Mapping[str, str] | None = None,
) -> Iterator[Event]:
    """Yield the events of one SSE connection to ``path`` until the server ends it."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    resp = transport.request(
        "GET", path, headers=headers, params=params, stream=True, timeout=(5, read_timeout)
    )
    try:
        # chunk_size=None hands bytes over as they arrive, so no event waits in a buffer.
        for message in sseclient.SSEClient(resp.iter_content(chunk_size=None)).events():
            if message.data:
                yield Event(message.id or "", message.event or "message", json.loads(message.data))
    finally:
        resp.close()


def renew_after_end(transport: Transport, end: Event) -> None:
    """After an ``end`` event: refresh an expired access token so the caller can resume;
    a revoked session (or nothing to refresh with) raises ``ApiError`` 401 with the
    server's reason."""
    if end.task.get("reason") == "token_expired" and transport.refresh_token:
        transport.refresh(stale=transport.token)
        return
    detail = str(end.task.get("detail") or "The live stream ended.")
    raise ApiError(401, {"code": "unauthorized", "title": "Stream ended", "detail": detail})


def follow_task(
    transport: Transport, task_id: str, last_event_id: str | None = None
) -> Iterator[Event]:
    """Yield a task's events until it is finished, reconnecting (with ``Last-Event-ID``,
    so nothing is missed or repeated) whenever the server ends a stream early."""
    while True:
        for event in read_stream(transport, f"/v1/tasks/{task_id}/events", last_event_id):
            if event.kind == "end":
                renew_after_end(transport, event)
                break
            last_event_id = event.id or last_event_id
            yield event
            if event.terminal:
                return
        # The server ended the stream early (its time limit, a restart, the token): go on
        # unless the task finished in a part of the log this client had already read.
        if transport.json("GET", f"/v1/tasks/{task_id}")["status"] in TERMINAL:
            return


def follow_all(
    transport: Transport,
    status: str | None = None,
    processor: str | None = None,
    last_event_id: str | None = None,
) -> Iterator[Event]:
    """Yield the events of all the user's tasks (``GET /v1/events``) for ever, from what
    happens next (or after ``last_event_id``); ``status``/``processor`` filter (comma
    separated). Reconnects with ``Last-Event-ID`` whenever the server ends a stream (its
    maximum duration, a restart) and renews the token after an ``end`` for its expiry, so
    nothing is missed or repeated."""
    params = {k: v for k, v in (("status", status), ("processor", processor)) if v}
    while True:
        for event in read_stream(transport, "/v1/events", last_event_id, params=params):
            if event.kind == "end":
                renew_after_end(transport, event)
                break
            last_event_id = event.id or last_event_id
            yield event
