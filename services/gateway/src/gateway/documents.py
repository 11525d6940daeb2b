"""Task documents as the gateway answers them: PostgreSQL's text, with the live progress
cache laid over a running task's."""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

import redis
from backdrop_common import events, taskstore
from backdrop_common.db import json_value
from backdrop_common.tokens import Principal
from flask import current_app

from gateway.resources import resources

log = logging.getLogger(__name__)


def owned_document(task_id: uuid.UUID | str, principal: Principal) -> bytes:
    """The caller's Task document as JSON (``document_json``), or 404."""
    return document_json(_owned_row(task_id, principal))


def owned_doc(task_id: uuid.UUID | str, principal: Principal) -> dict[str, Any]:
    """The caller's Task document, parsed (``document``), or 404."""
    return document(_owned_row(task_id, principal))


def _owned_row(task_id: uuid.UUID | str, principal: Principal) -> taskstore.TaskRow:
    return taskstore.get_owned_document(resources().db, task_id, principal.user_id)


def document_json(row: taskstore.TaskRow) -> bytes:
    """A ``{doc, id, status}`` row's Task document as JSON: PostgreSQL's text as it is,
    unless the task is running and the progress cache has something to lay over it."""
    progress = _cached_progress(row)
    if progress is None:
        return cast(str, row["doc"]).encode()
    # The app's encoder, not orjson's alone: it writes an integer past 64 bits exactly.
    return current_app.json.dumps(_overlaid(row, progress)).encode()


def document(row: taskstore.TaskRow) -> dict[str, Any]:
    """A ``{doc, id, status}`` row's Task document, parsed, with the progress cache laid
    over it (best effort)."""
    return _overlaid(row, _cached_progress(row))


def task_doc(row: taskstore.TaskRow) -> dict[str, Any]:
    """The Task document of a whole row, with the live progress cache laid over it."""
    return taskstore.task_json(row, _cached_progress(row))


def _overlaid(row: taskstore.TaskRow, progress: dict[str, Any] | None) -> dict[str, Any]:
    doc = cast(dict[str, Any], json_value(row["doc"]))
    taskstore.overlay_progress(doc["progress"], row["status"], progress)
    return doc


def _cached_progress(row: taskstore.TaskRow) -> dict[str, Any] | None:
    """A running task's progress in the Redis cache (None otherwise, or while Redis is out)."""
    if row["status"] != "running":
        return None
    try:
        return events.get_progress(resources().redis, row["id"])
    except redis.RedisError:
        log.warning("progress cache unavailable")
        return None
