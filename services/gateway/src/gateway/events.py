"""``GET /v1/tasks/<id>/events``: a task's progress as Server-Sent Events, resumable.

Why gevent: an event stream holds its connection for as long as the task runs (minutes),
mostly idle in ``XREAD BLOCK``. With sync or threaded workers every watcher would pin an OS
thread or a process, so a few hundred browsers would exhaust the gateway. Under
``gunicorn -k gevent`` (``backdrop_common.gunicorn_conf``) sockets are monkey-patched, so
each stream is a cheap greenlet parked on its Redis socket, and redis-py, requests and
psycopg2 (patched by psycogreen in ``post_fork``) all yield instead of blocking the worker.

The stream: on a fresh connection, first the current state (a ``status`` event whose id is
the newest log id); on a resumed one (Last-Event-ID), no snapshot but every logged event after
the client's id, in order, so nothing is missed and nothing arrives out of order. Then live
events, ``: keep-alive`` comments while idle, and the end after a terminal status (when a
finished task's log has nothing newer, its final state closes the stream).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from backdrop_common import events, taskstore
from backdrop_common.errors import Unavailable, ValidationFailed
from backdrop_common.tokens import current_principal, require_auth
from flask import Blueprint, Response, request
from prometheus_client import Gauge

from gateway import taskops
from gateway.apidoc import operation
from gateway.livecap import Lease, client_address, live_streams
from gateway.resources import Resources, resources
from gateway.schemas import TERMINAL

bp = Blueprint("events", __name__)
log = logging.getLogger(__name__)
_EVENT_ID = re.compile(r"^\d{1,20}(-\d{1,20})?\Z")
_STREAM_ID_MAX = 2**64 - 1  # each half of a Redis stream id is an unsigned 64-bit number
SSE_STREAMS = Gauge(
    "backdrop_gateway_sse_streams", "Open event streams", multiprocess_mode="livesum"
)


def sse(event_id: str, kind: str, doc: dict[str, Any]) -> str:
    """One SSE message (the JSON is on a single line, so one ``data:`` field suffices)."""
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(doc, separators=(',', ':'))}\n\n"


def _last_event_id() -> str | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if raw is None or raw == "":
        return None
    # 20 digits pass the pattern yet may overflow Redis, which then read nothing (a silent,
    # empty 200 stream): refuse them like any other id that is not one of ours.
    if not _EVENT_ID.match(raw) or any(int(p) > _STREAM_ID_MAX for p in raw.split("-")):
        raise ValidationFailed(errors={"Last-Event-ID": ["Not an event id of this stream."]})
    return raw


def _stream(
    res: Resources,
    task_id: uuid.UUID,
    doc: dict[str, Any],
    cursor: str,
    resumed: bool,
    lease: Lease,
) -> Iterator[str]:
    settings = res.settings
    keepalive = settings.sse_keepalive_s
    started = last_write = last_row_check = time.monotonic()
    SSE_STREAMS.inc()
    try:
        finished = doc["status"] in TERMINAL
        if resumed:
            yield "retry: 2000\n\n"
        else:
            yield "retry: 2000\n" + sse(cursor, "status", doc)
            if finished:
                return
        while time.monotonic() - started < settings.sse_max_duration_s:
            idle = time.monotonic() - last_write
            # A finished task's log is complete: read what is left without blocking.
            block = (
                0
                if finished
                else max(10, min(settings.sse_block_ms, int((keepalive - idle) * 1000)))
            )
            batch = events.read_events(res.stream_redis, task_id, cursor, block)
            for event_id, kind, data in batch:
                cursor = event_id
                yield sse(event_id, kind, data)
                if kind == "status" and data.get("status") in TERMINAL:
                    return
            lease.renew()
            if batch:
                last_write = time.monotonic()
                continue
            if finished:
                # The log holds nothing newer (or has expired): end on the final state.
                yield sse(cursor, "status", doc)
                return
            if time.monotonic() - last_write >= keepalive:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()
            if time.monotonic() - last_row_check >= settings.sse_row_check_s:
                last_row_check = time.monotonic()
                # The row is the truth: if a terminal event never reached the log (Redis
                # hiccup), end with the row's state rather than waiting forever. Rarely, so
                # that thousands of idle streams do not keep the database pool busy.
                row = taskstore.get_task(res.db, task_id)
                if row is not None and row["status"] in TERMINAL:
                    yield sse(cursor, "status", taskstore.task_json(row))
                    return
    except (redis.RedisError, Unavailable) as exc:
        # The client reconnects with Last-Event-ID and misses nothing.
        log.warning("event stream of %s interrupted: %s", task_id, type(exc).__name__)
    finally:
        SSE_STREAMS.dec()
        lease.release()


@bp.get("/v1/tasks/<uuid:task_id>/events")
@operation(
    tag="tasks",
    path=("task_id",),
    headers=(("Last-Event-ID", "Resume after this event id (or ?last_event_id=)."),),
    responses={
        200: ("text/event-stream", "status/progress events; data is the Task JSON"),
        400: None,
        404: None,
        429: None,
        503: None,
    },
)
@require_auth()
def task_events(task_id: uuid.UUID) -> Response:
    """Watch a task live (Server-Sent Events, resumable with Last-Event-ID); at most
    ``live_streams_per_user`` at once per account (429 beyond)."""
    resume = _last_event_id()
    res = resources()
    principal = current_principal()
    # The cap first: a flood beyond it costs Redis only, never a database query.
    lease = live_streams().acquire(principal.user_id, client_address())
    try:
        taskops.owned(task_id, principal)  # 404 for a stranger before anything else
        # The newest id is read before the snapshot row: an event appended in between is
        # then replayed after the snapshot (a harmless repeat) instead of being skipped.
        try:
            latest = events.latest_event_id(res.redis, task_id) or "0"
        except redis.RedisError as exc:
            raise Unavailable("Live events are unavailable right now.") from exc
        doc = taskops.task_doc(taskops.owned(task_id, principal))
    except BaseException:
        lease.release()
        raise
    cursor = resume if resume is not None else latest
    resp = Response(
        _stream(res, task_id, doc, cursor, resume is not None, lease),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    # A client gone before the first chunk never runs the generator's finally.
    resp.call_on_close(lease.release)
    return resp
