"""Event logs (per task ``backdrop:events:<task_id>``, per owner
``backdrop:user-events:<user_id>``), progress cache, cancel signals.

The streams are the replayable logs the gateway's live streams (SSE and WebSocket) read;
entry ids are the event ids clients resume after. Both logs are written here, together, so
the per-user log holds exactly the events of the owner's task logs.
``publish_status`` is the one call every service makes after a task's state changes.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import redis

from backdrop_common import taskstore
from backdrop_common.redis_keys import (
    CANCEL_CHANNEL,
    cancel_key,
    events_key,
    progress_key,
    user_events_key,
)

log = logging.getLogger(__name__)

EVENTS_MAXLEN = 1000
USER_EVENTS_MAXLEN = 10_000
TERMINAL_TTL_S = 24 * 3600
# A log of a task that never finishes must not live forever either.
OPEN_TTL_S = 7 * 24 * 3600
PROGRESS_TTL_S = 3600
CANCEL_TTL_S = 24 * 3600
_STREAM_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")

Event = tuple[str, str, "LoggedDoc"]


class LoggedDoc(dict[str, Any]):
    """A Task document read from an event log, with the JSON text it was stored as (``raw``,
    compact like ``json.dumps(..., separators=(",", ":"))``; None when that text is not a
    single line): a live stream writes that text as it is instead of encoding the document
    again.

    The watchers of one event in one process share one decoded document (a thousand
    watchers of a task decoded and re-encoded the same text a thousand times): read it,
    never change it.
    """

    __slots__ = ("raw",)
    raw: str | None


@functools.lru_cache(maxsize=512)
def _logged(data: str) -> LoggedDoc:
    doc = LoggedDoc(json.loads(data))
    # Checked once per event here, not by every stream that writes it (an SSE data line).
    doc.raw = data if "\n" not in data and "\r" not in data else None
    return doc


def append_event(
    client: redis.Redis,
    task_id: object,
    kind: str,
    task_doc: Mapping[str, Any],
    owner_id: object | None = None,
) -> str:
    """XADD a ``status``/``progress`` event (``data`` = Task JSON); returns the entry id.

    The task's log is capped near 1000 entries; once the task is terminal it expires in
    24 h. With ``owner_id`` the event also goes to the owner's log (capped near 10,000
    entries, kept 7 days after the last write) in the same transaction.
    """
    pipe = client.pipeline(transaction=True)
    _queue_event(pipe, task_id, kind, task_doc, owner_id)
    return _text(pipe.execute()[0])


def _queue_event(
    pipe: Any, task_id: object, kind: str, task_doc: Mapping[str, Any], owner_id: object | None
) -> None:
    """Queue on ``pipe`` the commands of :func:`append_event` (its XADD replies first)."""
    data = json.dumps(task_doc, separators=(",", ":"), default=str)
    key = events_key(task_id)
    terminal = task_doc.get("status") in taskstore.TERMINAL
    pipe.xadd(key, {"event": kind, "data": data}, maxlen=EVENTS_MAXLEN, approximate=True)
    pipe.expire(key, TERMINAL_TTL_S if terminal else OPEN_TTL_S)
    if owner_id is not None:
        user_key = user_events_key(owner_id)
        pipe.xadd(
            user_key, {"event": kind, "data": data}, maxlen=USER_EVENTS_MAXLEN, approximate=True
        )
        pipe.expire(user_key, OPEN_TTL_S)


def publish_status(client: redis.Redis, row: taskstore.TaskRow) -> str | None:
    """Append a ``status`` event carrying ``row``'s Task document: call after every transition.

    Best effort: the row is already committed and is the truth, so Redis trouble is logged
    and None returned (clients polling ``GET /v1/tasks/{id}`` still see the change).
    """
    try:
        return append_event(
            client, row["id"], "status", taskstore.task_json(row), owner_id=row["owner_id"]
        )
    except redis.RedisError as exc:
        log.warning(
            "could not append a status event for task %s: %s", row["id"], type(exc).__name__
        )
        return None


def queue_status(pipe: Any, row: taskstore.TaskRow) -> None:
    """Queue ``row``'s ``status`` event on the transaction ``pipe`` (its XADD replies first).

    For a caller that sends the event with other commands in one round trip (the worker:
    with the ACK of the job, once the final state is committed); a Redis error is then the
    caller's to handle.
    """
    _queue_event(pipe, row["id"], "status", taskstore.task_json(row), row["owner_id"])


def set_progress(
    client: redis.Redis, task_id: object, fraction: float, stage: str | None, message: str | None
) -> None:
    """Cache the latest progress (hash, TTL 1 h) for ``GET /v1/tasks/{id}`` to overlay."""
    key = progress_key(task_id)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pipe = client.pipeline(transaction=True)
    pipe.hset(
        key,
        mapping={
            "fraction": repr(min(1.0, max(0.0, float(fraction)))),
            "stage": stage or "",
            "message": message or "",
            "updated_at": now,
        },
    )
    pipe.expire(key, PROGRESS_TTL_S)
    pipe.execute()


def clear_progress(client: redis.Redis, task_id: object) -> None:
    """Forget the cached progress (a new attempt starts from zero); best effort."""
    try:
        client.delete(progress_key(task_id))
    except redis.RedisError as exc:
        log.warning("could not clear cached progress: %s", type(exc).__name__)


def get_progress(client: redis.Redis, task_id: object) -> dict[str, Any] | None:
    """The cached progress ``{fraction, stage, message, updated_at}`` or None."""
    raw = client.hgetall(progress_key(task_id))
    if not raw:
        return None
    doc = {_text(k): _text(v) for k, v in raw.items()}
    try:
        fraction = float(doc.get("fraction", 0.0))
    except ValueError:
        fraction = 0.0
    return {
        "fraction": fraction,
        "stage": doc.get("stage") or None,
        "message": doc.get("message") or None,
        "updated_at": doc.get("updated_at") or None,
    }


def read_events(
    client: redis.Redis, task_id: object, after_id: str | None, block_ms: int, count: int = 100
) -> list[Event]:
    """A task's events after ``after_id``; see :func:`read_log`."""
    return read_log(client, events_key(task_id), after_id, block_ms, count)


def read_log(
    client: redis.Redis, key: str, after_id: str | None, block_ms: int, count: int = 100
) -> list[Event]:
    """Events of the log ``key`` after ``after_id`` as ``[(id, kind, task_doc)]``, waiting
    up to ``block_ms``; each ``task_doc`` is a shared, read-only ``LoggedDoc``.

    ``after_id`` None or malformed (a client's Last-Event-ID) replays from the start;
    ``block_ms <= 0`` does not block (Redis' ``BLOCK 0`` would wait forever). The client's
    ``socket_timeout`` must be None or longer than ``block_ms``.
    """
    start = after_id if after_id and _STREAM_ID.match(after_id) else "0-0"
    timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
    if block_ms > 0 and timeout is not None and timeout * 1000 <= block_ms:
        raise ValueError("socket_timeout must exceed block_ms (use socket_timeout=None)")
    block = block_ms if block_ms > 0 else None
    reply: Any = client.xread({key: start}, count=count, block=block)
    return [
        _event(entry_id, fields) for _stream, entries in reply or [] for entry_id, fields in entries
    ]


def newest_event(client: redis.Redis, key: str) -> Event | None:
    """The newest event of the log ``key`` (None when the log is empty)."""
    reply: Any = client.xrevrange(key, count=1)
    return _event(*reply[0]) if reply else None


def _event(entry_id: Any, fields: Mapping[Any, Any]) -> Event:
    f = {_text(k): _text(v) for k, v in fields.items()}
    return (_text(entry_id), f.get("event", "status"), _logged(f["data"]))


def latest_event_id(client: redis.Redis, key: str) -> str | None:
    """The id of the newest event of the log ``key`` (``events_key``/``user_events_key``),
    or None when the log is empty.

    A task's stream uses it as the id of the current-state snapshot it sends first, so a
    client that reconnects resumes right after that snapshot; the per-user stream starts
    after it (a fresh connection gets what happens from now on).
    """
    reply: Any = client.xrevrange(key, count=1)
    return _text(reply[0][0]) if reply else None


def signal_cancel(client: redis.Redis, task_id: object) -> None:
    """Tell workers to stop ``task_id``: SET the fallback key (TTL 1 day), then PUBLISH.

    The key comes first so a worker woken by the message (or polling) finds it set; the
    key covers workers that missed the fire-and-forget message.
    """
    pipe = client.pipeline(transaction=False)
    pipe.set(cancel_key(task_id), "1", ex=CANCEL_TTL_S)
    pipe.publish(CANCEL_CHANNEL, str(task_id))
    pipe.execute()


def cancel_signalled(client: redis.Redis, task_id: object) -> bool:
    """True when a cancel flag for ``task_id`` is set (the fallback for a missed PUBLISH).

    False when Redis cannot be asked: the database's ``cancel_requested`` still decides.
    """
    try:
        return bool(client.exists(cancel_key(task_id)))
    except redis.RedisError:
        return False


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
