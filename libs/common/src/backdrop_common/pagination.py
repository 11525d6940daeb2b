"""Opaque keyset cursors on ``(created_at, id)``: every "newest first" list pages with them."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

from backdrop_common.errors import ValidationFailed


def encode_cursor(created_at: datetime, row_id: uuid.UUID | str) -> str:
    """The cursor that continues after the row ``(created_at, row_id)``."""
    raw = json.dumps({"t": created_at.isoformat(), "i": str(row_id)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """``(created_at, id)`` of a cursor; ``ValidationFailed`` (400) for a forged one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        when = datetime.fromisoformat(doc["t"])
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        return when, uuid.UUID(doc["i"])
    # AttributeError: uuid.UUID() of a number or a list (a forged cursor) is not a 500.
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValidationFailed("Invalid cursor.", {"cursor": ["not a valid cursor"]}) from exc
