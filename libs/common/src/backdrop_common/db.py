"""PostgreSQL access: a thread-safe psycopg2 pool and one-transaction cursors.

After PostgreSQL restarts, every idle pooled connection is dead although psycopg2 does not
know it yet. A borrowed connection is therefore checked first (``_usable``) and replaced when
stale, and ``run`` retries its work once when the connection dies under it.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg2
import psycopg2.extras
import psycopg2.pool

from backdrop_common.errors import Unavailable
from backdrop_common.metrics import DEPENDENCY_ERRORS

if TYPE_CHECKING:
    from backdrop_common.config import BaseServiceSettings

psycopg2.extras.register_uuid()
log = logging.getLogger(__name__)
T = TypeVar("T")
_FD_SETSIZE = 1024  # select() cannot watch descriptors from here on


def _usable(conn: Any) -> bool:
    """Whether an idle pooled connection can still carry a query.

    An idle connection hears from the server only when the server ends it (a restart, an
    administrator's kill, an idle timeout): bytes waiting on its socket, or end of file, mean
    it is dead. ``select`` with a zero timeout costs one system call, no round trip.
    """
    if conn.closed:
        return False
    try:
        fd = conn.fileno()
    except psycopg2.Error:
        return False
    if fd >= _FD_SETSIZE:
        return True  # cannot tell; ``run`` still retries once on a lost connection
    readable, _, _ = select.select([fd], [], [], 0)
    return not readable


class _ConnectionLost(Exception):
    """The connection died while the work ran, so nothing was committed."""


class Database:
    """A lazily created connection pool for one DSN."""

    def __init__(
        self,
        dsn: str,
        maxconn: int = 10,
        connect_timeout: int = 3,
        acquire_timeout: float = 10.0,
        keep_idle: int = 4,
    ) -> None:
        self.dsn = dsn
        self.maxconn = maxconn
        # psycopg2's pool keeps at most ``minconn`` connections once returned and closes the
        # rest: with minconn 0 every request paid a fresh PostgreSQL connection (about 20x
        # slower reads under load). These stay open for reuse; bursts above them still work.
        self.keep_idle = max(0, min(keep_idle, maxconn))
        self.connect_timeout = connect_timeout
        self.acquire_timeout = acquire_timeout
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()
        # psycopg2's pool raises PoolError at once when every connection is lent out; under
        # gevent (or 20 racing requests) bursts exceed the pool, so borrowers wait for a slot
        # (up to acquire_timeout) instead of failing with 503.
        self._slots = threading.BoundedSemaphore(maxconn)

    @classmethod
    def from_settings(cls, settings: BaseServiceSettings) -> Database:
        """A pool for ``BACKDROP_DATABASE_URL`` sized by ``BACKDROP_DB_POOL_MAX``/``_IDLE``."""
        return cls(
            settings.database_url, maxconn=settings.db_pool_max, keep_idle=settings.db_pool_idle
        )

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = psycopg2.pool.ThreadedConnectionPool(
                        self.keep_idle,
                        self.maxconn,
                        self.dsn,
                        connect_timeout=self.connect_timeout,
                        application_name="backdrop",
                    )
        return self._pool

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """Borrow a connection (waiting for a free one); a broken one is discarded."""
        if not self._slots.acquire(timeout=self.acquire_timeout):
            raise Unavailable("The database is busy; try again shortly.")
        try:
            with self._borrow() as conn:
                yield conn
        finally:
            self._slots.release()

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[Any]:
        try:
            pool = self._get_pool()
            conn = pool.getconn()
            for _ in range(self.maxconn):  # each stale idle one is replaced, then a new one
                if _usable(conn):
                    break
                pool.putconn(conn, close=True)
                conn = pool.getconn()
        except (psycopg2.OperationalError, psycopg2.pool.PoolError) as exc:
            DEPENDENCY_ERRORS.labels("postgres").inc()
            raise Unavailable("The database is not reachable.") from exc
        broken = False
        try:
            yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            DEPENDENCY_ERRORS.labels("postgres").inc()
            raise Unavailable("The database is not reachable.") from exc
        finally:
            broken = broken or bool(conn.closed)
            if not broken and conn.status != psycopg2.extensions.STATUS_READY:
                conn.rollback()
            pool.putconn(conn, close=broken)

    @contextlib.contextmanager
    def cursor(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """One transaction: commit when the block succeeds, roll back when it raises."""
        with (
            self.connection() as conn,
            conn,
            conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur,
        ):
            yield cur

    def run(self, work: Callable[[psycopg2.extras.RealDictCursor], T], *, read: bool = False) -> T:
        """``work(cursor)`` in one transaction, run again once if the connection died under it.

        A connection lost before the commit means PostgreSQL rolled the transaction back, so
        running ``work`` again on a fresh connection is safe. A failure during the commit
        itself is ambiguous and is not retried (``Unavailable``).

        ``read=True`` is for work that is one read-only statement: it runs in autocommit,
        which PostgreSQL makes atomic by itself, so it costs one round trip instead of three
        (BEGIN, the statement, COMMIT): most of a short read's time. Reads are safe to repeat.
        """
        for attempt in (1, 2):
            try:
                with self.connection() as conn:
                    conn.autocommit = read
                    try:
                        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                            result = work(cur)
                    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                        if conn.closed and attempt == 1:
                            raise _ConnectionLost from exc
                        raise
                    finally:
                        if read and not conn.closed:
                            conn.autocommit = False
                    if not read:
                        conn.commit()
                    return result
            except _ConnectionLost:
                log.warning("database connection lost; running the transaction again")
        raise AssertionError("unreachable")  # the second attempt returns or raises

    def ping(self) -> None:
        """Raise if the database does not answer ``SELECT 1``."""
        with self.cursor() as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        """Close every pooled connection."""
        if self._pool is not None:
            self._pool.closeall()
            self._pool = None
