"""PostgreSQL access: a thread-safe psycopg2 pool and one-transaction cursors."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.extras
import psycopg2.pool

from backdrop_common.errors import Unavailable

psycopg2.extras.register_uuid()


class Database:
    """A lazily created connection pool for one DSN."""

    def __init__(self, dsn: str, maxconn: int = 10, connect_timeout: int = 3) -> None:
        self.dsn = dsn
        self.maxconn = maxconn
        self.connect_timeout = connect_timeout
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = psycopg2.pool.ThreadedConnectionPool(
                        0,
                        self.maxconn,
                        self.dsn,
                        connect_timeout=self.connect_timeout,
                        application_name="backdrop",
                    )
        return self._pool

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """Borrow a connection; a broken one is discarded instead of returned to the pool."""
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
