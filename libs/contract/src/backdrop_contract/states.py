"""Task states (``Task.status``): the one definition, for the services and the client."""

from __future__ import annotations

STATUSES = (
    "awaiting_upload",
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "expired",
)
UNFINISHED = frozenset({"awaiting_upload", "queued", "running"})
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})
"""A task in one of these states never changes again."""
