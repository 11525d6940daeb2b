"""WebSocket: ``/v1/tasks/<id>/ws`` (one task) and ``/v1/ws`` (all of the caller's tasks,
``?status=&processor=`` filters), with the frames, ids and resume of the SSE routes (both
read ``gateway.feed``). flask-sock (simple-websocket) serves them under gunicorn's gevent
worker, each socket a greenlet like an SSE stream.

The token never goes in the URL (URLs end up in logs): either in the handshake, as the
subprotocol ``bearer.<token>`` next to ``backdrop`` (``Sec-WebSocket-Protocol: backdrop,
bearer.<token>``; the server answers ``backdrop``), or as the first message,
``{"token": "...", "last_event_id": "..."}``, within ``ws_auth_timeout_s``. A resume id may
also come as ``?last_event_id=`` (ids are not secrets).

Every server message is JSON ``{"id", "event", "data"}`` (``id`` absent on ``end`` and
``error``). A refused stream gets ``{"event": "error", "data": <problem>}`` and close code
4000 + the HTTP status (4400, 4401, 4404, 4429, 4503); an ``end`` (token expired or revoked)
closes with 4401; a finished task's stream closes with 1000.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from backdrop_common.errors import BackdropError, Forbidden, Unauthorized
from backdrop_common.tokens import Principal, token_verifier
from flask import Blueprint, Flask, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed, Server

from gateway import feed
from gateway.apidoc import operation
from gateway.blueprints.sse import EventsQuery
from gateway.livecap import Lease, client_address, live_streams
from gateway.resources import resources
from gateway.settings import GatewaySettings

bp = Blueprint("ws", __name__)
sock = Sock()
SUBPROTOCOL = "backdrop"
_BEARER = "bearer."
_MAX_MESSAGE = 16 * 1024
_RESPONSES: dict[int, Any] = {
    101: ("application/json", "Switching to WebSocket; messages are JSON {id, event, data}"),
    400: None,
}  # a first message holds a token and an id, nothing bigger

Build = Callable[[Principal, str | None], feed.Watch]


def init_app(app: Flask, settings: GatewaySettings) -> None:
    """Register the routes; simple-websocket pings idle sockets (and drops dead ones)."""
    app.config["SOCK_SERVER_OPTIONS"] = {
        "subprotocols": [SUBPROTOCOL],
        "ping_interval": settings.sse_keepalive_s,
        "max_message_size": _MAX_MESSAGE,
    }
    app.register_blueprint(bp)


def _for_users(view: Callable[..., None]) -> Callable[..., None]:
    # What ``require_auth("user")`` declares on HTTP routes; ``_authenticate`` enforces it.
    view.required_role = "user"  # type: ignore[attr-defined]
    return view


@sock.route("/v1/tasks/<uuid:task_id>/ws", bp=bp)  # type: ignore[untyped-decorator]
@operation(tag="tasks", path=("task_id",), query=EventsQuery, responses=_RESPONSES)
@_for_users
def task_ws(ws: Server, task_id: uuid.UUID) -> None:
    """Watch a task over a WebSocket: the frames of its SSE stream as JSON messages
    ``{id, event, data}``. Token as subprotocol ``bearer.<token>`` beside ``backdrop``, or
    first message ``{"token", "last_event_id"}``; resume with ``last_event_id``."""
    _serve(ws, lambda who, resume: feed.task_watch(resources(), who, task_id, resume))


@sock.route("/v1/ws", bp=bp)  # type: ignore[untyped-decorator]
@operation(tag="tasks", query=EventsQuery, responses=_RESPONSES)
@_for_users
def user_ws(ws: Server) -> None:
    """Watch all your tasks over a WebSocket (the frames of ``GET /v1/events``; filters
    ``status``, ``processor``; token and resume as for ``/v1/tasks/{id}/ws``)."""
    args = request.args.to_dict()
    _serve(ws, lambda who, resume: feed.user_watch(resources(), who, resume, args))


def _serve(ws: Server, build: Build) -> None:
    lease: Lease | None = None
    try:
        principal, resume = _authenticate(ws)
        lease = live_streams().acquire(principal.user_id, client_address())
        watch = build(principal, resume)
    except BackdropError as exc:
        if lease is not None:
            lease.release()
        _send(ws, {"event": "error", "data": exc.body()})
        ws.close(4000 + exc.status, exc.code)
        return
    source = feed.frames(resources(), watch, principal, token_verifier(), lease)
    try:
        for frame in source:
            if not ws.connected:
                return  # the client left; the finally below releases its place
            if frame is None:
                continue  # idle: simple-websocket's pings keep the socket alive
            # {"event", "data", "id"} written around the log's own JSON text of the data.
            tail = "" if frame.id is None else f',"id":{json.dumps(frame.id)}'
            ws.send(f'{{"event":{json.dumps(frame.event)},"data":{frame.data_json()}{tail}}}')
            if frame.event == "end":
                ws.close(4401, str(frame.data["reason"]))
                return
        ws.close(1000, "done")
    except ConnectionClosed:
        pass
    finally:
        source.close()
        lease.release()


def _authenticate(ws: Server) -> tuple[Principal, str | None]:
    """The caller (token from the subprotocol or the first message) and the resume id."""
    resume_raw = request.args.get("last_event_id")
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    token = next((p[len(_BEARER) :] for p in offered if p.startswith(_BEARER)), None)
    if token is None:
        timeout = resources().settings.ws_auth_timeout_s
        first = ws.receive(timeout=timeout)
        if first is None:
            raise Unauthorized("Send the token as the first message or in the handshake.")
        try:
            hello = json.loads(first)
        except (TypeError, ValueError) as exc:
            raise Unauthorized('The first message must be {"token": "..."}.') from exc
        if not isinstance(hello, dict) or not isinstance(hello.get("token"), str):
            raise Unauthorized('The first message must be {"token": "..."}.')
        token = hello["token"]
        if isinstance(hello.get("last_event_id"), str):
            resume_raw = hello["last_event_id"]
    principal = token_verifier().verify(token)
    if not principal.has_role("user"):
        raise Forbidden("This needs the user role.")
    return principal, feed.parse_event_id(resume_raw, "last_event_id")


def _send(ws: Server, message: dict[str, Any]) -> None:
    ws.send(json.dumps(message, separators=(",", ":")))
