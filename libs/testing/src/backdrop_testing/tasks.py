"""Test data builders for the task store."""

from __future__ import annotations

import uuid
from typing import Any, cast

import redis
from backdrop_common import redis_keys, taskstore
from backdrop_common.db import Database


def new_task(db: Database, **overrides: Any) -> taskstore.TaskRow:
    """Create an ``awaiting_upload`` task with plausible defaults; ``overrides`` win."""
    fields: dict[str, Any] = {
        "owner_id": uuid.uuid4(),
        "processor": "checksum",
        "params": {"algorithms": ["sha256"]},
        "filename": "report.csv",
        "size": 11,
        "content_type": "text/csv",
        "sha256": None,
        "idempotency_key": None,
        "request_hash": None,
        "upload_window_s": 3600,
    }
    fields.update(overrides)
    row, created = taskstore.create_task(db, **fields)
    assert created, "an idempotency key in overrides matched an existing task"
    return row


def job_ids(client: redis.Redis, processor: str = "checksum") -> list[str]:
    """The task ids on ``processor``'s job stream, oldest first."""
    entries = cast(
        "list[tuple[str, dict[str, str]]]", client.xrange(redis_keys.job_stream(processor))
    )
    return [fields["task_id"] for _, fields in entries]
