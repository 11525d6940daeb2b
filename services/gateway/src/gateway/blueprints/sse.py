"""Server-Sent Events: ``GET /v1/tasks/<id>/events`` (one task) and ``GET /v1/events`` (all
of the caller's tasks), resumable with ``Last-Event-ID``; the frames come from
``gateway.feed`` (shared with the WebSocket routes of ``gateway.ws``).

Why gevent: an event stream holds its connection for as long as the task runs (minutes),
mostly idle in ``XREAD BLOCK``. With sync or threaded workers every watcher would pin an OS
thread or a process, so a few hundred browsers would exhaust the gateway. Under
``gunicorn -k gevent`` (``backdrop_common.gunicorn_conf``) sockets are monkey-patched, so
each stream is a cheap greenlet parked on its Redis socket, and redis-py, requests and
psycopg2 (patched by psycogreen in ``post_fork``) all yield instead of blocking the worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from backdrop_common.tokens import current_principal, require_auth, token_verifier
from flask import Blueprint, Response, request
from marshmallow import Schema, fields

from gateway import feed
from gateway.apidoc import operation
from gateway.livecap import client_address, live_streams
from gateway.resources import resources

bp = Blueprint("events", __name__)
_RESUME = (("Last-Event-ID", "Resume after this event id (or ?last_event_id=)."),)
_RESPONSES: dict[int, Any] = {
    200: ("text/event-stream", "status/progress events (data: the Task JSON), then end"),
    400: None,
    429: None,
    503: None,
}


class EventsQuery(Schema):
    """Filters of the per-user streams (``GET /v1/events``, ``/v1/ws``)."""

    status = fields.String(metadata={"description": "Only these statuses (comma separated)."})
    processor = fields.String(metadata={"description": "Only these processors (comma separated)."})
    last_event_id = fields.String(metadata={"description": "Resume after this event id."})


def sse(frame: feed.Frame) -> str:
    """One SSE message (the JSON is on a single line, so one ``data:`` field suffices); an
    ``end`` frame has no id, so a client resuming later keeps its last event's id."""
    head = f"id: {frame.id}\n" if frame.id is not None else ""
    return f"{head}event: {frame.event}\ndata: {frame.data_json()}\n\n"


def _resume() -> str | None:
    return feed.parse_event_id(
        request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    )


def _respond(build: Callable[[], feed.Watch]) -> Response:
    """Take the caller's place under the live-stream caps, build the watch, stream it."""
    res = resources()
    principal = current_principal()
    # The cap first: a flood beyond it costs Redis only, never a database query.
    lease = live_streams().acquire(principal.user_id, client_address())
    try:
        watch = build()
    except BaseException:
        lease.release()
        raise
    source = feed.frames(res, watch, principal, token_verifier(), lease)

    def body() -> Iterator[str]:
        # The reconnect delay goes with the snapshot when there is one, else at once (so
        # the client sees the response start without waiting for an event).
        retry = "retry: 2000\n"
        if watch.task_doc is None or watch.resumed:
            yield retry + "\n"
            retry = ""
        for frame in source:
            yield retry + (": keep-alive\n\n" if frame is None else sse(frame))
            retry = ""

    resp = Response(
        body(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    # A client gone before the first chunk never runs the generator's finally.
    resp.call_on_close(lease.release)
    return resp


@bp.get("/v1/tasks/<uuid:task_id>/events")
@operation(tag="tasks", path=("task_id",), headers=_RESUME, responses={**_RESPONSES, 404: None})
@require_auth()
def task_events(task_id: uuid.UUID) -> Response:
    """Watch a task live (Server-Sent Events, resumable with Last-Event-ID); at most
    ``live_streams_per_user`` live streams at once per account (429 beyond)."""
    resume = _resume()
    principal = current_principal()
    return _respond(lambda: feed.task_watch(resources(), principal, task_id, resume))


@bp.get("/v1/events")
@operation(
    tag="tasks",
    query=EventsQuery,
    headers=_RESUME,
    responses=_RESPONSES,
)
@require_auth()
def user_events() -> Response:
    """Watch all your tasks live (Server-Sent Events, resumable with Last-Event-ID): a fresh
    stream starts with what happens next; filters by status and processor."""
    resume = _resume()
    principal = current_principal()
    args = request.args.to_dict()
    return _respond(lambda: feed.user_watch(resources(), principal, resume, args))
