"""The pool after PostgreSQL dropped its connections (a restart, an administrator's kill)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from backdrop_common.db import Database


@pytest.fixture
def pool(database_url: str) -> Iterator[Database]:
    """A pool that keeps two idle connections, like a service's."""
    db = Database(database_url, maxconn=4, keep_idle=2)
    yield db
    db.close()


def _backend_pids(db: Database, n: int) -> list[int]:
    """Open ``n`` pooled connections at once; their server pids (they stay idle in the pool)."""
    pids: list[int] = []
    with db.connection() as a, db.connection() as b:
        for conn in (a, b)[:n]:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                pids.append(cur.fetchone()[0])
            conn.rollback()
    return pids


def _terminate(database_url: str, pids: list[int]) -> None:
    admin = psycopg2.connect(database_url)
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            # Like a restart: the backends are gone (sockets closed) before the next request.
            cur.execute("SELECT pg_terminate_backend(p, 5000) FROM unnest(%s::int[]) AS p", (pids,))
    finally:
        admin.close()


def test_stale_idle_connections_are_replaced(pool: Database, database_url: str) -> None:
    """Issue 10 item 5: killed idle connections used to fail the next two operations."""
    pids = _backend_pids(pool, 2)
    _terminate(database_url, pids)
    for _ in range(3):
        with pool.cursor() as cur:
            cur.execute("SELECT pg_backend_pid() AS pid")
            assert cur.fetchone()["pid"] not in pids


def test_run_retries_once_when_the_connection_dies_mid_transaction(pool: Database) -> None:
    calls: list[int] = []

    def work(cur: Any) -> int:
        calls.append(1)
        cur.execute("SELECT pg_backend_pid() AS pid")
        pid = int(cur.fetchone()["pid"])
        if len(calls) == 1:  # the server ends this very connection under us
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return pid

    assert pool.run(work) and len(calls) == 2


def test_run_commits_and_rolls_back(pool: Database) -> None:
    pool.run(lambda cur: cur.execute("CREATE TEMP TABLE IF NOT EXISTS t (x int)"))
    with pytest.raises(psycopg2.errors.DivisionByZero):
        pool.run(lambda cur: cur.execute("SELECT 1 / 0"))
    assert pool.run(lambda cur: cur.execute("SELECT 1") or "ok") == "ok"


def test_a_read_runs_without_a_transaction_and_leaves_the_connection_transactional(
    database_url: str,
) -> None:
    db = Database(database_url, maxconn=1, keep_idle=1)  # one connection, reused throughout

    def in_transaction(cur: Any) -> bool:
        # now() is the transaction's start; statement_timestamp() this statement's.
        cur.execute("SELECT pg_sleep(0.01), now() < statement_timestamp() AS inside")
        return bool(cur.fetchone()["inside"])

    def two_statements(cur: Any) -> bool:
        cur.execute("SELECT pg_sleep(0.01)")
        return in_transaction(cur)

    try:
        assert db.run(two_statements) is True  # a transaction: now() stayed at its start
        assert db.run(two_statements, read=True) is False  # autocommit: each statement alone
        with pytest.raises(psycopg2.DataError):
            db.run(lambda cur: cur.execute("SELECT 1 / 0"), read=True)
        assert db.run(two_statements) is True  # the same connection is transactional again
    finally:
        db.close()
