"""What one small job costs the worker in round trips to Redis and PostgreSQL.

Per-job round trips are most of a small job's cost (issue 9): a 1 KiB checksum job must take
one PostgreSQL round trip to claim, one to finish and one to admit the owner's next held job
(fair share; each its own transaction, no separate BEGIN/COMMIT), and two Redis round trips:
the ``running`` event, then the final event sent with the ACK. In-process, so every call is
counted in this thread.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from backdrop_common import events
from worker.runtime import Runtime
from worker.supervisor import JobSupervisor


class _CountedConnection:
    """A psycopg2 connection that counts what goes over the wire: each statement, the
    BEGIN psycopg2 sends before the first statement of a transaction, and each COMMIT."""

    def __init__(self, conn: Any, counts: Counter[str]) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_counts", counts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._conn, name, value)

    def __enter__(self) -> Any:
        return self._conn.__enter__()

    def __exit__(self, *exc: object) -> Any:
        return self._conn.__exit__(*exc)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        cur = self._conn.cursor(*args, **kwargs)
        conn, counts = self._conn, self._counts
        execute = cur.execute

        def counted(*a: Any, **kw: Any) -> Any:
            if not conn.autocommit and conn.info.transaction_status == 0:  # idle: BEGIN first
                counts["pg"] += 1
            counts["pg"] += 1
            return execute(*a, **kw)

        cur.execute = counted
        return cur

    def commit(self) -> None:
        self._counts["pg"] += 1
        self._conn.commit()


@pytest.fixture
def counts(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Round trips of the runtime's database and Redis clients while the test runs."""
    found: Counter[str] = Counter()
    borrow = runtime.db.connection

    @contextlib.contextmanager
    def connection() -> Iterator[Any]:
        with borrow() as conn:
            yield _CountedConnection(conn, found)

    monkeypatch.setattr(runtime.db, "connection", connection)
    send = redis.connection.AbstractConnection.send_packed_command

    def sent(conn: Any, *args: Any, **kwargs: Any) -> None:
        found["redis"] += 1  # a command, or a whole pipeline: one round trip
        send(conn, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", sent)
    yield found


def test_a_small_job_costs_three_statements_and_two_redis_round_trips(
    runtime: Runtime, tasks: Any, counts: Counter[str]
) -> None:
    runtime.horses.fill()  # a horse waits, as in a running worker
    row = tasks("checksum", b"x" * 1024)
    (delivery,) = runtime.consumer.read(1)
    counts.clear()

    JobSupervisor(runtime, delivery).run()
    spent = dict(counts)

    assert tasks.get(row["id"])["status"] == "succeeded"
    log = events.read_events(tasks.redis, str(row["id"]), "0-0", 0)
    # A job that took longer than the progress throttle (a slow machine) also publishes its
    # progress: two round trips more (the cached progress and the event).
    progress = 2 if any(kind == "progress" for _, kind, _ in log) else 0
    assert spent == {"pg": 3, "redis": 2 + progress}
    assert [doc["status"] for _, kind, doc in log if kind == "status"][-2:] == [
        "running",
        "succeeded",
    ]
