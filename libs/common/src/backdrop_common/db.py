"""PostgreSQL access: a thread-safe psycopg2 pool and one-transaction cursors.

After PostgreSQL restarts, every idle pooled connection is dead although psycopg2 does not
know it yet. A borrowed connection is therefore checked first (``_usable``) and replaced when
stale, and ``run`` retries its work once when the connection dies under it.

Rows are plain dicts keyed by column name (``DictRowCursor``). A statement run with
``fetch_prepared`` is planned once per connection (a server-side prepared statement).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import select
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool

from backdrop_common.errors import Unavailable
from backdrop_common.green import bounded_semaphore
from backdrop_common.metrics import DEPENDENCY_ERRORS

if TYPE_CHECKING:
    from backdrop_common.config import BaseServiceSettings


# orjson reads an integer past 64 bits as a float, silently rounded (2**70 + 1 came back as
# 1.1805916207174113e+21); the standard parser keeps it exact. Such an integer has at least
# 19 digits, so a text with a run of 19 digits goes to the standard parser.
_LONG_DIGITS = re.compile(r"\d{19}")


def json_value(text: str | bytes) -> Any:
    """A ``json``/``jsonb`` column's value: parsed by orjson (a 20-task page spent 45 us in
    the standard parser), or by ``json`` where orjson would round a long integer or refuses
    the text."""
    if _LONG_DIGITS.search(text if isinstance(text, str) else text.decode()):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


psycopg2.extras.register_uuid()
psycopg2.extras.register_default_json(loads=json_value, globally=True)
psycopg2.extras.register_default_jsonb(loads=json_value, globally=True)
log = logging.getLogger(__name__)
T = TypeVar("T")
_FD_SETSIZE = 1024  # select() cannot watch descriptors from here on
Row = dict[str, Any]
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class DictRowCursor(psycopg2.extensions.cursor):  # type: ignore[misc]
    """A cursor whose rows are plain dicts keyed by column name.

    psycopg2's ``RealDictCursor`` builds every row in Python, one ``__setitem__`` per
    column: a 20-row page of tasks cost 390 us of client CPU that way, 110 us as tuples
    zipped onto the column names here (the "100 us per row" of the gateway's list profile).
    """

    def _names(self) -> list[str]:
        return [column.name for column in self.description or ()]

    def fetchone(self) -> Any:
        """The next row, or None (typed ``Any`` as psycopg2's own cursors are)."""
        row = super().fetchone()
        return None if row is None else dict(zip(self._names(), row, strict=True))

    def fetchmany(self, size: int | None = None) -> list[Row]:
        """Up to ``size`` rows (``arraysize`` by default)."""
        names = self._names()
        rows = super().fetchmany(self.arraysize if size is None else size)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def fetchall(self) -> list[Row]:
        """Every remaining row."""
        names = self._names()
        return [dict(zip(names, row, strict=True)) for row in super().fetchall()]

    def __iter__(self) -> Iterator[Row]:
        while (row := self.fetchone()) is not None:
            yield row


class _Connection(psycopg2.extensions.connection):  # type: ignore[misc]
    """A pooled connection that knows which statements it has prepared (they live as long
    as the server session, so with the connection)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()


class _Statement:
    """A ``%(name)s``-style statement as PostgreSQL's ``PREPARE`` / ``EXECUTE`` pair."""

    def __init__(self, query: str) -> None:
        self.query = query
        names = list(dict.fromkeys(_PLACEHOLDER.findall(query)))
        position = {name: f"${i}" for i, name in enumerate(names, 1)}
        self.name = "bd_" + hashlib.sha1(query.encode(), usedforsecurity=False).hexdigest()[:20]
        body = _PLACEHOLDER.sub(lambda m: position[m.group(1)], query).replace("%%", "%")
        self.prepare = f"PREPARE {self.name} AS {body}"
        self.execute = f"EXECUTE {self.name}" + (
            "(" + ", ".join(f"%({name})s" for name in names) + ")" if names else ""
        )


# The statements seen so far; None marks one PostgreSQL cannot prepare (a parameter whose
# type it cannot infer or infers two ways, a tuple for ``IN``): it runs as sent.
_STATEMENTS: dict[str, _Statement | None] = {}
_UNPREPARABLE = (
    psycopg2.errors.IndeterminateDatatype,
    psycopg2.errors.AmbiguousParameter,
    psycopg2.errors.AmbiguousFunction,
    psycopg2.errors.DatatypeMismatch,
    psycopg2.errors.SyntaxError,
)


def fetch_prepared(
    cur: DictRowCursor, query: str | Sequence[str], args: Mapping[str, Any]
) -> list[Row]:
    """Run ``query`` as a prepared statement of ``cur``'s connection; every row. Several
    queries go in one round trip (one implicit transaction); the rows are the last one's.

    The connection must be in autocommit (``Database.run(..., read=True)`` or
    ``single=True``): PostgreSQL then parses and plans each statement once per connection
    instead of on every request, a third of a task read's cost on the server. A plan gone
    stale (another process added a column: "cached plan must not change result type") or
    dropped is prepared again; both are refused before the statements run (the implicit
    transaction is rolled back), so a write is not applied twice.
    """
    queries = (query,) if isinstance(query, str) else tuple(query)
    statements = [s for s in map(_statement, queries) if s is not None]
    conn = cur.connection
    prepared: set[str] | None = getattr(conn, "prepared", None)
    if prepared is None or not conn.autocommit or len(statements) < len(queries):
        return _fetch_as_sent(cur, queries, args)
    for attempt in (1, 2):
        for statement in statements:
            if statement.name in prepared:
                continue
            try:
                cur.execute(statement.prepare)
            except psycopg2.errors.DuplicatePreparedStatement:
                pass  # prepared by a call that failed after it: the name is the text's hash
            except _UNPREPARABLE:
                _STATEMENTS[statement.query] = None
                return _fetch_as_sent(cur, queries, args)
            prepared.add(statement.name)
        try:
            cur.execute("; ".join(s.execute for s in statements), args)
            return cur.fetchall()
        except (psycopg2.errors.InvalidSqlStatementName, psycopg2.errors.FeatureNotSupported):
            if attempt == 2:
                raise
            # Dropped (DISCARD ALL) or planned for a table that has changed: prepare these
            # again, dropping first whichever the connection still holds.
            names = {s.name for s in statements}
            cur.execute("SELECT name FROM pg_prepared_statements")
            held = {row["name"] for row in cur.fetchall()}
            for name in sorted(names & held):
                cur.execute(f"DEALLOCATE {name}")
            prepared.difference_update(names)
    raise AssertionError("unreachable")


def _statement(query: str) -> _Statement | None:
    """The prepared form of ``query`` (made once per process), None if it cannot be one:
    a string of several statements (``PREPARE`` would run all but the first at once)."""
    if query not in _STATEMENTS:
        _STATEMENTS.setdefault(query, None if ";" in query else _Statement(query))
    return _STATEMENTS[query]


def _fetch_as_sent(
    cur: DictRowCursor, queries: Sequence[str], args: Mapping[str, Any]
) -> list[Row]:
    cur.execute("; ".join(queries), args)
    return cur.fetchall()


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
        self._slots = bounded_semaphore(maxconn)

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
                    pool = psycopg2.pool.ThreadedConnectionPool(
                        0,
                        self.maxconn,
                        self.dsn,
                        connect_timeout=self.connect_timeout,
                        application_name="backdrop",
                        connection_factory=_Connection,
                    )
                    # psycopg2 opens ``minconn`` connections at once and keeps that many
                    # idle. Made with 0 and raised afterwards, the pool opens connections as
                    # they are needed and still keeps ``keep_idle``: an idle e2e stack held
                    # 68 of PostgreSQL's default 100 connections, every process its
                    # ``keep_idle`` whether it had queried or not.
                    pool.minconn = self.keep_idle
                    self._pool = pool
        return self._pool

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """Borrow a connection (waiting for a free one); a broken one is discarded."""
        # One generator for the gate and the pool: a task read enters this on every request,
        # and a second nested context manager was 1 % of its CPU.
        if not self._slots.acquire(timeout=self.acquire_timeout):
            raise Unavailable("The database is busy; try again shortly.")
        try:
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
                    try:
                        conn.rollback()
                    except psycopg2.Error:
                        broken = True  # died mid-transaction: discard it, do not lose it
                pool.putconn(conn, close=broken)
        finally:
            self._slots.release()

    @contextlib.contextmanager
    def cursor(self) -> Iterator[DictRowCursor]:
        """One transaction: commit when the block succeeds, roll back when it raises."""
        with (
            self.connection() as conn,
            conn,
            conn.cursor(cursor_factory=DictRowCursor) as cur,
        ):
            yield cur

    def run(
        self,
        work: Callable[[DictRowCursor], T],
        *,
        read: bool = False,
        single: bool = False,
    ) -> T:
        """``work(cursor)`` in one transaction, run again once if the connection died under it.

        A connection lost before the commit means PostgreSQL rolled the transaction back, so
        running ``work`` again on a fresh connection is safe. A failure during the commit
        itself is ambiguous and is not retried (``Unavailable``).

        ``read=True`` is for work that is one read-only statement: it runs in autocommit,
        which PostgreSQL makes atomic by itself, so it costs one round trip instead of three
        (BEGIN, the statement, COMMIT): most of a short read's time. Reads are safe to repeat.

        ``single=True`` is for work that is one writing query (a guarded UPDATE, or several
        statements in one query string, which PostgreSQL runs as one implicit transaction):
        also autocommit and one round trip, committed as durably as by COMMIT before the
        answer comes back. A connection lost under it is as ambiguous as a lost COMMIT, so it is
        not run again (``Unavailable``).
        """
        autocommit = read or single
        for attempt in (1, 2):
            try:
                with self.connection() as conn:
                    conn.autocommit = autocommit
                    try:
                        with conn.cursor(cursor_factory=DictRowCursor) as cur:
                            result = work(cur)
                    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                        if conn.closed and attempt == 1 and not single:
                            raise _ConnectionLost from exc
                        raise
                    finally:
                        if autocommit and not conn.closed:
                            conn.autocommit = False
                    if not autocommit:
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
