"""What one SSE watcher of the fan-out phase received: kept by ``sse_watchers.py`` (in its
gevent process) and read back by ``load_fanout.py``. Imports nothing that gevent patches."""

from __future__ import annotations

from dataclasses import dataclass, field

from backdrop_contract.states import TERMINAL


@dataclass
class Watcher:
    """One SSE watcher: what it received and when."""

    n: int
    events: list[tuple[str, str, str, float]] = field(default_factory=list)
    """(id, event, task status, receive time) per event."""
    error: str | None = None
    """The last connection error (an HTTP error status or an exception)."""
    status_code: int | None = None
    connections: int = 0
    early_ends: int = 0
    """Streams that ended (or failed) before the terminal event, each followed by a resume."""
    retry_ms: int = 2000
    """Reconnection delay (the server's ``retry:`` field; EventSource's usual default)."""

    @property
    def first_terminal_on_first_stream(self) -> bool:
        """Whether the first connection alone delivered the terminal event."""
        return self.early_ends == 0 and self.terminal_at is not None

    @property
    def terminal_at(self) -> float | None:
        """When the terminal status event arrived."""
        for _, kind, status, at in self.events:
            if kind == "status" and status in TERMINAL:
                return at
        return None
