"""Target 8: the read path with 1,000,000 task rows against the same with 1,000.

PostgreSQL makes the rows itself (one ``INSERT ... SELECT generate_series``) in the bench
stack's own database, as finished tasks whose inputs are already swept, so the sweeper leaves
them alone. Every tenth row is the bench user's (a list 100,000 long at 1,000,000 rows), the
others spread over 997 other owners, interleaved in time as users' tasks are. wrk (as in the
api phase) measures ``GET /v1/tasks/{id}``, the first page and a deep page (keyset cursor at
the middle of the user's list) with 1,000 rows, then again after the rest is inserted and
ANALYZEd. The task store's own queries for the three reads are run under EXPLAIN ANALYZE
(through a stand-in for the database object), so the plans shown are of the real queries.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extras
import stackctl
from accounts import new_user
from backdrop_common import taskstore
from backdrop_common.errors import NotFound
from backdrop_common.pagination import encode_cursor
from load_api import ensure_wrk, run_python, run_wrk
from report import Report, Row, at_least, ratio_at_most

INSERT = """
INSERT INTO tasks.tasks (id, owner_id, status, processor, filename, size, content_type,
    object_key, attempts, result, created_at, updated_at, upload_expires_at, queued_at,
    started_at, finished_at, input_swept_at)
SELECT gen_random_uuid(), CASE WHEN g %% 10 = 0 THEN %(owner)s::uuid ELSE
    ('00000000-0000-4000-8000-' || lpad((g %% 997)::text, 12, '0'))::uuid END, 'succeeded',
    'checksum', 'f' || g || '.bin', 1024,
    'application/octet-stream', 'bench-scale/' || g || '/input', 1,
    '{"sha256": "0"}'::jsonb, t, t, t + interval '15 minutes', t, t, t, now()
FROM generate_series(%(first)s, %(last)s) AS g,
    LATERAL (SELECT now() - make_interval(secs => g) AS t) AS ts
"""


class _ExplainCursor:
    """Runs each query under EXPLAIN ANALYZE, keeps the plan and returns no rows."""

    def __init__(self, cur: Any, plans: list[str]) -> None:
        self.cur = cur
        self.plans = plans

    def execute(self, query: str, args: Any) -> None:
        """EXPLAIN the query the task store sends."""
        self.cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, args)
        self.plans.append("\n".join(r[0] for r in self.cur.fetchall()))

    @property
    def connection(self) -> Any:
        """The plain connection (it prepares nothing, so the store sends its SQL as is)."""
        return self.cur.connection

    def fetchall(self) -> list[Any]:
        """No rows: the caller sees an empty result."""
        return []


class _ExplainDb:
    """Stands in for ``backdrop_common.db.Database`` in the task store's read functions."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.plans: list[str] = []

    def run(self, work: Callable[[Any], Any], *, read: bool = False, single: bool = False) -> Any:
        """Hand ``work`` the EXPLAIN cursor (``read``/``single`` as ``Database.run``)."""
        with self.conn.cursor() as cur:
            return work(_ExplainCursor(cur, self.plans))


def _sql(conn: Any, query: str, args: dict[str, Any] | None = None) -> list[Any]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else []


def _middle(conn: Any, owner: str, rows: int) -> tuple[str, str]:
    """The id and keyset cursor of the row in the middle of the owner's list (``rows``
    in the table, a tenth of them the owner's)."""
    created, row_id = _sql(
        conn,
        "SELECT created_at, id FROM tasks.tasks WHERE owner_id = %(o)s"
        " ORDER BY created_at DESC, id DESC OFFSET %(n)s LIMIT 1",
        {"o": owner, "n": rows // 20},
    )[0]
    return str(row_id), encode_cursor(created, row_id)


def bench_scale(
    report: Report, base_url: str, rows: int, seconds: float, threads: int, conns: int
) -> None:
    """p99 of the three reads with 1,000 rows and with ``rows``; plans of the queries."""
    user = new_user(base_url, "benchscale")
    wrk = ensure_wrk(report)
    conn = psycopg2.connect(stackctl.DATABASE_URL)
    conn.autocommit = True
    p99: dict[int, dict[str, float]] = {}
    plans: list[str] = []
    try:
        small = 1000
        _sql(conn, INSERT, {"owner": user.user_id, "first": 1, "last": small})
        task_id, _ = _middle(conn, user.user_id, small)
        for count in (small, rows):
            if count > small:
                print(f"bench: (scale) inserting {count - small:,} task rows", flush=True)
                t0 = time.monotonic()
                _sql(conn, INSERT, {"owner": user.user_id, "first": small + 1, "last": count})
                _sql(conn, "ANALYZE tasks.tasks")
                report.details["scale_insert_seconds"] = time.monotonic() - t0
            _, cursor = _middle(conn, user.user_id, count)
            urls = {
                "GET /v1/tasks/{id}": f"{base_url}/v1/tasks/{task_id}",
                "GET /v1/tasks?limit=20": f"{base_url}/v1/tasks?limit=20",
                "GET /v1/tasks?limit=20&cursor=<middle>": (
                    f"{base_url}/v1/tasks?limit=20&cursor={cursor}"
                ),
            }
            p99[count] = {}
            for route, url in urls.items():
                print(f"bench: (scale) {count:,} rows: {route} for {seconds:.0f}s", flush=True)
                if wrk:
                    run_wrk(wrk, url, route, user.token, 1, threads, conns)
                    result = run_wrk(wrk, url, route, user.token, seconds, threads, conns)
                else:
                    result = run_python(url, route, user.token, seconds, conns)
                if result.errors:
                    report.problem(f"(scale) {count} rows, {route}: {result.errors} errors")
                p99[count][route] = result.p99_ms
        db = _ExplainDb(conn)
        owner = uuid.UUID(user.user_id)
        # The routes' own reads: the Task documents as PostgreSQL writes them.
        with contextlib.suppress(NotFound):  # the EXPLAIN answers no rows
            taskstore.get_owned_document(db, task_id, owner)  # type: ignore[arg-type]
        taskstore.list_tasks(db, owner, limit=20, documents=True)  # type: ignore[arg-type]
        taskstore.list_tasks(db, owner, limit=20, cursor=cursor, documents=True)  # type: ignore[arg-type]
        plans = db.plans
    finally:
        # Leave the stack's database as small as it was for whatever runs next.
        _sql(conn, "DELETE FROM tasks.tasks WHERE object_key LIKE 'bench-scale/%'")
        conn.close()
    report.details["scale"] = {"rows": rows, "p99_ms": p99, "explain": plans}
    for plan in plans:
        print("bench: (scale) EXPLAIN\n    " + plan.replace("\n", "\n    "), flush=True)
    for route, small_p99 in p99[1000].items():
        report.add(
            Row(
                "8 scale",
                f"{route} p99 with {rows:,} rows",
                p99[rows][route],
                "ms",
                small_p99,
                "p99 with 1,000 rows",
                goal=ratio_at_most(2.0),
            )
        )
    indexed = [p for p in plans if "Index" in p and "Seq Scan" not in p]
    report.add(
        Row(
            "8 scale",
            "task store queries of those reads planned as index scans (EXPLAIN)",
            float(len(indexed)),
            "of 3",
            note="; ".join(_scan(p) for p in plans),
            goal=at_least(3.0),
        )
    )


def _scan(plan: str) -> str:
    """The first scan node of a plan, e.g. ``Index Scan using tasks_pkey on tasks``."""
    line = next((ln for ln in plan.splitlines() if "Scan" in ln), plan.splitlines()[0])
    return line.strip().lstrip("-> ").split("  (")[0]
