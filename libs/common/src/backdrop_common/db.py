"""PostgreSQL access: a thread-safe psycopg2 pool and one-transaction cursors."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import psycopg2
import psycopg2.extras
import psycopg2.pool

from backdrop_common.errors import Unavailable

if TYPE_CHECKING:
    from backdrop_common.config import BaseServiceSettings

psycopg2.extras.register_uuid()


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
        except (psycopg2.OperationalError, psycopg2.pool.PoolError) as exc:
            raise Unavailable("The database is not reachable.") from exc
        broken = False
        try:
            yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
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

    def ping(self) -> None:
        """Raise if the database does not answer ``SELECT 1``."""
        with self.cursor() as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        """Close every pooled connection."""
        if self._pool is not None:
            self._pool.closeall()
            self._pool = None
