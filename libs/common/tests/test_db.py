"""The pool after PostgreSQL dropped its connections (a restart, an administrator's kill);
rows as dicts; reads as prepared statements."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from backdrop_common import taskstore
from backdrop_common.db import Database, fetch_prepared


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


def _backends(database_url: str, expected: int | None = None) -> int:
    """The pools' connections to the test database (the services' application name). A
    backend leaves ``pg_stat_activity`` only once its process has exited, a moment after the
    client closed it: wait up to 5 s for ``expected``, or, without it, for two equal counts."""
    admin = psycopg2.connect(database_url)
    admin.autocommit = True  # each count a new snapshot of pg_stat_activity
    try:
        last, deadline = -1, time.monotonic() + 5
        while True:
            with admin.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = 'backdrop'"
                )
                count = int(cur.fetchone()[0])
            settled = count == expected if expected is not None else count == last
            if settled or time.monotonic() > deadline:
                return count
            last = count
            time.sleep(0.05)
    finally:
        admin.close()


def test_a_pool_opens_connections_as_needed_and_keeps_keep_idle(database_url: str) -> None:
    """A process that has not queried holds no backend (each used to open ``keep_idle`` at
    once: an idle e2e stack held 68 of PostgreSQL's default 100); after a burst, the pool
    keeps ``keep_idle`` open and closes the rest."""
    before = _backends(database_url)
    db = Database(database_url, maxconn=4, keep_idle=2)
    try:
        with db.cursor() as cur:
            cur.execute("SELECT 1")
        assert _backends(database_url, before + 1) == before + 1
        with db.connection(), db.connection(), db.connection():
            assert _backends(database_url, before + 3) == before + 3
        assert _backends(database_url, before + 2) == before + 2
    finally:
        db.close()
    assert _backends(database_url, before) == before


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


def _prepared(cur: Any) -> list[str]:
    """The statements prepared on ``cur``'s connection, as PostgreSQL lists them."""
    cur.execute("SELECT statement FROM pg_prepared_statements")
    return [row["statement"] for row in cur.fetchall()]


def test_a_read_is_planned_once_per_connection(db: Database) -> None:
    """A read runs as a prepared statement of its connection: PostgreSQL parses and plans it
    once, not on every request (a third of a task read's server time)."""
    query = "SELECT id, status FROM tasks.tasks WHERE id = %(id)s AND owner_id = %(owner)s"
    args = {"id": uuid.uuid4(), "owner": uuid.uuid4()}

    def prepared_here(cur: Any) -> list[str]:
        assert fetch_prepared(cur, query, args) == []
        return _prepared(cur)

    statements = db.run(prepared_here, read=True)
    assert any("WHERE id = $1 AND owner_id = $2" in s for s in statements), statements


def test_the_statements_of_a_task_creation_are_prepared(db: Database, database_url: str) -> None:
    """A creation's quota reads (unfinished tasks, bytes awaiting upload) and its INSERT are
    planned once per connection: the byte count and the INSERT were planned every time, and
    the INSERT cost a BEGIN and a COMMIT besides."""
    one = Database(database_url, maxconn=1, keep_idle=1)
    owner = uuid.uuid4()
    try:
        assert taskstore.count_unfinished(one, owner) == 0
        assert taskstore.awaiting_upload_bytes(one, owner) == 0
        fields = {"processor": "checksum", "params": {}, "filename": "a.txt", "size": 3}
        fields |= {"content_type": "text/plain", "sha256": None, "request_hash": "h"}
        created = [
            taskstore.create_task(
                one, owner_id=owner, idempotency_key=key, upload_window_s=60, **fields
            )
            for key in (None, "k", "k")
        ]
        statements = one.run(_prepared)
    finally:
        one.close()
    assert [was_new for _, was_new in created] == [True, True, False]
    assert created[1][0]["id"] == created[2][0]["id"] != created[0][0]["id"]
    assert taskstore.awaiting_upload_bytes(db, owner) == 6
    for fragment in ("count(*)", "sum(size)", "INSERT INTO tasks.tasks"):
        assert any(fragment in s and "$1" in s for s in statements), (fragment, statements)


def test_a_prepared_read_survives_a_schema_change(db: Database, make_task: Any) -> None:
    """Another process migrating the table ("cached plan must not change result type") or
    dropping the statements costs the read nothing."""
    task = make_task()
    read = "SELECT * FROM tasks.tasks WHERE id = %(id)s"

    def fetch(cur: Any) -> list[dict[str, Any]]:
        return fetch_prepared(cur, read, {"id": task["id"]})

    db = Database(db.dsn, maxconn=1, keep_idle=1)  # one connection: the plan is reused
    try:
        assert db.run(fetch, read=True)[0]["status"] == "awaiting_upload"
        with db.cursor() as cur:
            cur.execute("ALTER TABLE tasks.tasks ADD COLUMN readpath_probe int")
        try:
            rows = db.run(fetch, read=True)
            assert rows[0]["id"] == task["id"] and rows[0]["readpath_probe"] is None
        finally:
            with db.cursor() as cur:
                cur.execute("ALTER TABLE tasks.tasks DROP COLUMN readpath_probe")
        db.run(lambda cur: cur.execute("DEALLOCATE ALL"), read=True)
        assert db.run(fetch, read=True)[0]["id"] == task["id"]
    finally:
        db.close()


def test_a_guarded_update_is_prepared_and_applied_once_after_a_schema_change(
    db: Database, make_task: Any
) -> None:
    """The worker's claim and final state are planned once per connection too. When the
    table changed under the plan, the statement is refused before it runs and prepared
    again: the claim then counts one attempt, not two."""
    first, second = make_task(), make_task()
    for task in (first, second):
        assert taskstore.mark_queued(db, task["id"]) is not None
    db = Database(db.dsn, maxconn=1, keep_idle=1)  # one connection: the plan is reused
    try:
        claimed = taskstore.claim(db, first["id"], "w-1", 30)
        assert claimed is not None and claimed["attempts"] == 1

        assert any("SET status = 'running'" in s for s in db.run(_prepared, read=True))
        with db.cursor() as cur:
            cur.execute("ALTER TABLE tasks.tasks ADD COLUMN writepath_probe int")
        try:
            again = taskstore.claim(db, second["id"], "w-1", 30)
            assert again is not None and again["attempts"] == 1
            assert again["writepath_probe"] is None
        finally:
            with db.cursor() as cur:
                cur.execute("ALTER TABLE tasks.tasks DROP COLUMN writepath_probe")
    finally:
        db.close()


def test_the_admission_is_prepared_and_admits_once_after_a_schema_change(
    db: Database, make_task: Any
) -> None:
    """The fair-share admission (its lock, then its UPDATE, in one round trip) is prepared
    too; after the table changed it is prepared again and still admits within the cap."""
    owners = [uuid.uuid4(), uuid.uuid4()]
    for owner in owners:
        for _ in range(2):
            assert taskstore.mark_queued(db, make_task(owner_id=owner)["id"]) is not None
    db = Database(db.dsn, maxconn=1, keep_idle=1)  # one connection: the plans are reused
    try:
        assert len(taskstore.admit_waiting(db, owners[0], 1)) == 1

        held = db.run(_prepared, read=True)
        assert any("pg_advisory_xact_lock" in s for s in held), held
        assert any("SET dispatched_at = now()" in s for s in held), held
        with db.cursor() as cur:
            cur.execute("ALTER TABLE tasks.tasks ADD COLUMN admission_probe int")
        try:
            [admitted] = taskstore.admit_waiting(db, owners[1], 1)
            assert admitted["owner_id"] == owners[1] and admitted["admission_probe"] is None
            assert taskstore.admit_waiting(db, owners[1], 1) == []  # the cap holds
        finally:
            with db.cursor() as cur:
                cur.execute("ALTER TABLE tasks.tasks DROP COLUMN admission_probe")
        db.run(lambda cur: cur.execute("DEALLOCATE ALL"), read=True)  # as a pooler may
        assert len(taskstore.admit_waiting(db, owners[0], 2)) == 1  # its second, once
    finally:
        db.close()


def test_a_query_string_of_several_statements_runs_as_sent(db: Database) -> None:
    """``PREPARE name AS a; b`` would run ``b`` at once, unprepared: such a string is sent as
    it is (one implicit transaction), and nothing of it is left prepared."""
    query = "SELECT 1 AS first_of_two; SELECT %(n)s::int AS second_of_two"

    def run(cur: Any) -> tuple[list[dict[str, Any]], list[str]]:
        return fetch_prepared(cur, query, {"n": 2}), _prepared(cur)

    rows, statements = db.run(run, single=True)
    assert rows == [{"second_of_two": 2}]
    assert not any("of_two" in s for s in statements), statements


def test_rows_are_plain_dicts_by_column_name(pool: Database) -> None:
    with pool.cursor() as cur:
        cur.execute("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y' ORDER BY a")
        assert cur.fetchone() == {"a": 1, "b": "x"}
        assert cur.fetchall() == [{"a": 2, "b": "y"}]
        cur.execute("SELECT generate_series(1, 3) AS n")
        assert cur.fetchmany(2) == [{"n": 1}, {"n": 2}]
        assert [row for row in cur] == [{"n": 3}]
        assert cur.fetchone() is None


def test_json_columns_decode_as_the_standard_parser_would(pool: Database) -> None:
    # orjson parses them, but it would read an integer past 64 bits as a rounded float (2**70
    # alone would pass that unnoticed: it is a float exactly); those go to the standard parser.
    doc = {
        "n": 2**70 + 1,
        "m": -(2**63) - 1,
        "u": 2**64 - 1,
        "f": 0.1,
        "s": "é\u2028 1234567890123456789",
        "l": [None, True, {"k": -(2**63)}],
    }
    text = json.dumps(doc)
    with pool.cursor() as cur:
        cur.execute("SELECT %s::jsonb AS b, %s::json AS j", (text, text))
        row = cur.fetchone()
    assert row == {"b": doc, "j": doc}
    assert [type(row["b"][k]) for k in ("n", "m", "u")] == [int, int, int]
    assert json.loads(text) == doc


def test_a_failed_borrow_gives_its_slot_back(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the pool raises while lending (here a bug's ValueError), the gate's slot comes
    # back: with one slot, a leaked one would make every later borrow wait, then say "busy".
    db = Database(database_url, maxconn=1, keep_idle=1, acquire_timeout=0.5)
    try:
        real = db._get_pool

        def broken_pool() -> Any:
            raise ValueError("a bug in the pool")

        monkeypatch.setattr(db, "_get_pool", broken_pool)
        for _ in range(2):
            with pytest.raises(ValueError), db.connection():
                pass
        monkeypatch.setattr(db, "_get_pool", real)
        with db.cursor() as cur:
            cur.execute("SELECT 1 AS one")
            assert cur.fetchone()["one"] == 1
    finally:
        db.close()


def test_a_connection_that_dies_mid_transaction_is_discarded_not_lost(database_url: str) -> None:
    # Left in a transaction, a connection is rolled back before it goes back to the pool; if
    # the server is gone by then the rollback fails. The connection must still leave the
    # pool's books, or after maxconn of these every borrow fails with "not reachable".
    db = Database(database_url, maxconn=1, keep_idle=1, acquire_timeout=0.5)
    try:
        for _ in range(2):
            with db.connection() as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_backend_pid()")
                    pid = cur.fetchone()[0]
                _terminate(database_url, [pid])  # the transaction is still open
        with db.cursor() as cur:
            cur.execute("SELECT 1 AS one")
            assert cur.fetchone()["one"] == 1
    finally:
        db.close()
