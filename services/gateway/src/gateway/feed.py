"""The one event-reading core behind every live stream; SSE (``gateway.events``) and
WebSocket (``gateway.ws``) are two ways of writing its frames to a client.

A :class:`Watch` says what a stream follows: one task's log (``backdrop:events:<id>``) or
all of the caller's tasks (``backdrop:user-events:<user>``, optionally filtered by status
or processor). :func:`frames` turns it into :class:`Frame`\\ s:

- a task stream, on a fresh connection, first sends the current state (a ``status`` frame
  whose id is the newest log id; a finished task's is its terminal event's); resumed (after
  an event id), it sends no snapshot but every logged event after that id, in order:
  nothing missed, nothing twice. It ends after a terminal status (when a finished task's
  log has nothing newer, its final state ends it).
- the user stream starts after the newest event (fresh) or after the client's id (resumed);
  filtered-out events still move the cursor, so a resumed stream does not see them again.
- ``None`` frames mark idle time (the transport sends a keep-alive); an ``end`` frame (no
  id) says why the server closes: ``token_expired`` or ``token_revoked`` (checked at most
  every ``live_auth_check_s``; logout and disabled accounts revoke sessions), so no stream
  outlives its token. After ``sse_max_duration_s`` the stream just closes (clients resume).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from backdrop_common import events, taskstore
from backdrop_common.errors import Unavailable, ValidationFailed
from backdrop_common.redis_keys import events_key, user_events_key
from backdrop_common.tokens import Principal, TokenVerifier
from prometheus_client import Gauge

from gateway import documents, taskops
from gateway.livecap import Lease
from gateway.logtail import LogTail
from gateway.resources import Resources
from gateway.schemas import STATUSES, TERMINAL

log = logging.getLogger(__name__)
_EVENT_ID = re.compile(r"^\d{1,20}(-\d{1,20})?\Z")
_STREAM_ID_MAX = 2**64 - 1  # each half of a Redis stream id is an unsigned 64-bit number
# How long after ``finished_at`` a snapshot may wait for the terminal event, and how long.
FINAL_EVENT_GRACE_S = 5.0
FINAL_EVENT_WAIT_MS = 500
_PROCESSOR = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")
LIVE_STREAMS = Gauge(
    "backdrop_gateway_sse_streams",
    "Open live streams (SSE and WebSocket)",
    multiprocess_mode="livesum",
)


@dataclass(frozen=True)
class Frame:
    """One message of a live stream: ``status``/``progress`` (data = Task JSON, with the
    log id) or ``end`` (data = ``{reason, detail}``, no id)."""

    event: str
    data: Mapping[str, Any]
    id: str | None = None

    def data_json(self) -> str:
        """``data`` as compact JSON: the log's own text when it came from a log (shared by
        every watcher of the event), else encoded here."""
        raw = getattr(self.data, "raw", None)
        return raw if isinstance(raw, str) else json.dumps(self.data, separators=(",", ":"))


@dataclass
class Watch:
    """What one stream follows, where it starts, and which events it keeps; ``task_doc``
    is a task stream's current state, sent first unless ``resumed``."""

    key: str
    cursor: str
    keep: Callable[[Mapping[str, Any]], bool]
    task_id: uuid.UUID | None = None
    task_doc: dict[str, Any] | None = None
    resumed: bool = False


def parse_event_id(raw: str | None, field_name: str = "Last-Event-ID") -> str | None:
    """A client's resume id (None when absent), or 400 when it is not one of ours."""
    if raw is None or raw == "":
        return None
    # 20 digits pass the pattern yet may overflow Redis, which then read nothing (a silent,
    # empty stream): refuse them like any other id that is not one of ours.
    if not _EVENT_ID.match(raw) or any(int(p) > _STREAM_ID_MAX for p in raw.split("-")):
        raise ValidationFailed(errors={field_name: ["Not an event id of this stream."]})
    return raw


def task_watch(
    res: Resources, principal: Principal, task_id: uuid.UUID, resume: str | None
) -> Watch:
    """The watch of one of the caller's tasks (404 for anyone else's)."""
    taskops.owned(task_id, principal, "id")  # 404 for a stranger before anything else
    # The newest id is read before the snapshot row: an event appended in between is then
    # replayed after the snapshot (a harmless repeat) instead of being skipped.
    latest = _latest(res, events_key(task_id))
    doc = documents.owned_doc(task_id, principal)
    cursor = resume if resume is not None else latest
    return Watch(events_key(task_id), cursor, _always, task_id, doc, resume is not None)


def user_watch(
    res: Resources, principal: Principal, resume: str | None, args: Mapping[str, str]
) -> Watch:
    """The watch of all the caller's tasks, filtered by ``status``/``processor`` (comma
    separated lists in ``args``; 400 for an unknown status or a malformed name)."""
    statuses = _csv(args.get("status"))
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise ValidationFailed(errors={"status": [f"Unknown status: {', '.join(unknown)}."]})
    processors = _csv(args.get("processor"))
    if any(not _PROCESSOR.match(p) for p in processors):
        raise ValidationFailed(errors={"processor": ["Not a processor name."]})
    key = user_events_key(principal.user_id)

    def keep(doc: Mapping[str, Any]) -> bool:
        return (not statuses or doc.get("status") in statuses) and (
            not processors or doc.get("processor") in processors
        )

    return Watch(key, resume if resume is not None else _latest(res, key), keep)


def frames(
    res: Resources, watch: Watch, principal: Principal, verifier: TokenVerifier, lease: Lease
) -> Generator[Frame | None, None, None]:
    """The frames of ``watch`` until its end, the caller's token ends (checked with
    ``verifier``), or the stream's maximum duration; ``None`` whenever the stream has been
    idle for a keep-alive interval. ``lease`` is renewed while it runs and released after.

    Redis trouble ends the stream quietly (the client resumes and misses nothing).
    """
    s = res.settings
    started = last_write = last_row_check = last_auth_check = time.monotonic()
    LIVE_STREAMS.inc()
    try:
        doc = watch.task_doc
        finished = doc is not None and doc["status"] in TERMINAL
        if doc is not None and not watch.resumed:
            if finished:
                yield Frame("status", doc, _final_event_id(res, watch, doc))
                return
            yield Frame("status", doc, watch.cursor)
        # A finished task's resumed stream only reads what is left: no shared tail for it.
        following = nullcontext(None) if finished else res.tails.follow(watch.key, watch.cursor)
        with following as tail:
            while time.monotonic() - started < s.sse_max_duration_s:
                now = time.monotonic()
                if (
                    now - last_auth_check >= s.live_auth_check_s
                    or time.time() >= principal.expires_at
                ):
                    last_auth_check = now
                    ended = _token_end(principal, verifier)
                    if ended is not None:
                        yield ended
                        return
                until_expiry = principal.expires_at - time.time()
                idle = now - last_write
                # A resumed finished task's log is complete: read what is left without blocking.
                wait_s = min(
                    s.sse_block_ms / 1000,
                    s.sse_keepalive_s - idle,
                    until_expiry,
                    s.live_auth_check_s,
                )
                block = 0 if finished else max(10, int(wait_s * 1000))
                batch = _read(res, tail, watch, block)
                lease.renew()
                sent = False
                for event in batch:
                    event_id, kind, data = event
                    watch.cursor = event_id
                    if not watch.keep(data):
                        continue
                    sent = True
                    yield Frame(kind, data, event_id)
                    if watch.task_id is not None and _ends_task(event):
                        return
                if sent:
                    last_write = time.monotonic()
                if batch:
                    continue
                if finished and doc is not None:
                    # The log holds nothing newer (or has expired): end on the final state.
                    yield Frame("status", doc, watch.cursor)
                    return
                if time.monotonic() - last_write >= s.sse_keepalive_s:
                    yield None
                    last_write = time.monotonic()
                if (
                    watch.task_id is not None
                    and time.monotonic() - last_row_check >= s.sse_row_check_s
                ):
                    last_row_check = time.monotonic()
                    # The row is the truth: if a terminal event never reached the log (Redis
                    # hiccup), end with the row's state rather than waiting forever. Rarely, so
                    # that thousands of idle streams do not keep the database pool busy.
                    row = taskstore.get_task(res.db, watch.task_id)
                    if row is not None and row["status"] in TERMINAL:
                        yield Frame("status", taskstore.task_json(row), watch.cursor)
                        return
    except (redis.RedisError, Unavailable) as exc:
        log.warning("live stream of %s interrupted: %s", watch.key, type(exc).__name__)
    finally:
        LIVE_STREAMS.dec()
        lease.release()


def _read(res: Resources, tail: LogTail | None, watch: Watch, block_ms: int) -> list[events.Event]:
    """The next events after the watch's cursor: from the process's shared tail of the log
    when waiting (``gateway.logtail``), else (not waiting, or behind the tail) straight from
    the log; waits on the log itself when it has nothing the tail has not already passed
    (a trimmed or wiped log), as every stream did before tails."""
    if tail is not None and block_ms > 0:
        shared = tail.read(watch.cursor, block_ms / 1000)
        if shared is not None:
            return shared
    own = events.read_log(res.stream_redis, watch.key, watch.cursor, 0)
    if own or block_ms <= 0:
        return own
    return events.read_log(res.stream_redis, watch.key, watch.cursor, block_ms)


def _final_event_id(res: Resources, watch: Watch, doc: Mapping[str, Any]) -> str:
    """The id a finished task's snapshot carries: its terminal event's, so that resuming
    after it replays nothing. The worker commits the final state before it logs the event,
    so a task that has just finished may not have it logged yet: wait for it briefly, but
    only then (an old task's log may have expired, or lost the event in a Redis wipe).
    Without it, the newest id: the final state covers every event before it."""
    try:
        newest = events.newest_event(res.redis, watch.key)
        if newest is None:
            return watch.cursor
        if _ends_task(newest):
            return newest[0]
        if time.time() - _epoch(doc.get("finished_at")) < FINAL_EVENT_GRACE_S:
            for event in events.read_log(
                res.stream_redis, watch.key, newest[0], FINAL_EVENT_WAIT_MS
            ):
                if _ends_task(event):
                    return event[0]
            # Rare (a resume after this id repeats the final state): say so, with what we saw.
            log.warning(
                "task %s finished at %s but its terminal event was not logged within %d ms; "
                "the snapshot keeps id %s",
                watch.task_id,
                doc.get("finished_at"),
                FINAL_EVENT_WAIT_MS,
                newest[0],
            )
        return newest[0]
    except redis.RedisError:
        log.warning("event log of %s unreadable; snapshot keeps the newest id", watch.key)
        return watch.cursor


def _ends_task(event: events.Event) -> bool:
    return event[1] == "status" and event[2].get("status") in TERMINAL


def _epoch(stamp: object) -> float:
    """An RFC 3339 timestamp of a Task document as seconds since the epoch (0 if absent)."""
    return datetime.fromisoformat(stamp).timestamp() if isinstance(stamp, str) else 0.0


def _token_end(principal: Principal, verifier: TokenVerifier) -> Frame | None:
    if time.time() >= principal.expires_at:
        return Frame("end", {"reason": "token_expired", "detail": "Your access token expired."})
    if verifier.revoked(principal):
        return Frame("end", {"reason": "token_revoked", "detail": "Your session was signed out."})
    return None


def _latest(res: Resources, key: str) -> str:
    try:
        return events.latest_event_id(res.redis, key) or "0"
    except redis.RedisError as exc:
        raise Unavailable("Live events are unavailable right now.") from exc


def _always(doc: Mapping[str, Any]) -> bool:
    return True


def _csv(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]
