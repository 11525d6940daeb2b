"""One reader per event log per gateway process, shared by the live streams that follow it.

A thousand browsers watching one task used to park a thousand Redis connections in
``XREAD BLOCK`` on the same log; when the task finished, Redis answered each of them and
each stream parsed the same reply before writing its frame, one after the other: the last
watcher heard of the end a quarter of a second late. Now a :class:`LogTail` per log key
reads it (one connection, one parse per event) and wakes the streams that wait on it; each
stream still keeps its own cursor, so resume, order and "nothing twice" stay per stream.

A stream whose cursor lies before what the tail holds (it resumed from an older id, or the
tail forgot old entries) catches up with its own non-blocking reads first. The tail keeps the
last ``KEEP`` entries, reads while a stream uses it, and goes away ``block_ms`` after the
last one left. A failure (Redis, or an entry that is not one of ours) ends the tail and
reaches every stream waiting on it as a Redis error (each ends quietly and its client
resumes, as before). A stream that asks for events after an id the log has not reached yet
(a made-up Last-Event-ID) and starts a tail makes the streams of that log read it
themselves until the tail ends: the old cost, for its owner's streams only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import redis
from backdrop_common import events

log = logging.getLogger(__name__)

KEEP = 32
"""Entries a tail keeps for streams a little behind it; one further behind reads the log
itself (a thousand tails of busy logs would otherwise hold hundreds of MB)."""


def _order(event_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (``"0"`` and ``"0-0"`` come first)."""
    ms, _, seq = event_id.partition("-")
    return int(ms or 0), int(seq or 0)


class LogTail:
    """The shared reader of one event log; use it through :meth:`LogTails.follow`."""

    def __init__(self, tails: LogTails, key: str, start: str) -> None:
        self.tails = tails
        self.key = key
        self.start = _order(start)  # it holds every entry after this id
        self.last = start  # the id its next read starts after
        self.entries: list[events.Event] = []
        self.error: Exception | None = None
        self.followers = 0
        self.changed = threading.Condition()

    def read(self, cursor: str, wait_s: float) -> list[events.Event] | None:
        """Entries after ``cursor``, waiting up to ``wait_s`` for one; None when ``cursor`` is
        before what the tail holds (the caller reads the log itself)."""
        after = _order(cursor)
        with self.changed:
            if after < self.start:
                return None
            found = self._after(after)
            if not found and wait_s > 0 and self.error is None:
                self.changed.wait(wait_s)
                if after < self.start:
                    return None  # it forgot entries this stream has not seen while it waited
                found = self._after(after)
            if self.error is not None and not found:
                # A fresh exception per stream: one shared object would collect every
                # stream's traceback (and keep their frames alive).
                raise redis.ConnectionError(f"the event log reader failed: {self.error}")
            return found

    def _after(self, after: tuple[int, int]) -> list[events.Event]:
        # New entries are at the end: look back only as far as needed.
        i = len(self.entries)
        while i > 0 and _order(self.entries[i - 1][0]) > after:
            i -= 1
        return self.entries[i:]

    def run(self) -> None:
        """Read the log until no stream follows it (or Redis fails), waking the waiters."""
        block_ms = self.tails.block_ms
        while self.tails.keep_running(self):
            try:
                batch = events.read_log(self.tails.client, self.key, self.last, block_ms)
            except Exception as exc:
                # Redis trouble, or an entry that is not ours (no data, not JSON): the
                # streams end quietly and resume; a new follower starts a new tail.
                log.warning("reader of %s stopped: %s", self.key, type(exc).__name__)
                self.tails.drop(self)
                with self.changed:
                    self.error = exc
                    self.changed.notify_all()
                return
            if not batch:
                continue
            with self.changed:
                self.entries.extend(batch)
                self.last = batch[-1][0]
                if len(self.entries) > KEEP:
                    dropped = self.entries[: len(self.entries) - KEEP]
                    self.entries = self.entries[len(dropped) :]
                    self.start = _order(dropped[-1][0])
                self.changed.notify_all()


class LogTails:
    """The tails of one gateway process (``Resources.tails``)."""

    def __init__(self, client: redis.Redis, block_ms: int) -> None:
        self.client = client
        self.block_ms = block_ms
        self._tails: dict[str, LogTail] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def follow(self, key: str, cursor: str) -> Iterator[LogTail]:
        """The tail of ``key`` (started at ``cursor`` if there is none) while the block runs."""
        with self._lock:
            tail = self._tails.get(key)
            if tail is None:
                tail = self._tails[key] = LogTail(self, key, cursor)
                threading.Thread(target=tail.run, name=f"tail {key}", daemon=True).start()
            tail.followers += 1
        try:
            yield tail
        finally:
            with self._lock:
                tail.followers -= 1

    def keep_running(self, tail: LogTail) -> bool:
        """Whether ``tail`` still has followers; if not it is dropped (a new follower then
        starts a new one)."""
        with self._lock:
            if tail.followers > 0:
                return True
            if self._tails.get(tail.key) is tail:
                del self._tails[tail.key]
            return False

    def drop(self, tail: LogTail) -> None:
        """Forget ``tail`` (it failed): the next follower of its key starts a new one."""
        with self._lock:
            if self._tails.get(tail.key) is tail:
                del self._tails[tail.key]

    def count(self) -> int:
        """Tails running now (for tests and metrics)."""
        with self._lock:
            return len(self._tails)
