"""Migrations apply in order, once, and safely when several processes race."""

from __future__ import annotations

import threading

from backdrop_common.db import Database
from backdrop_common.migrations import migrate

PKG = "tests.fixtures_migrations"


def test_applies_in_order_then_nothing(database_url: str) -> None:
    db = Database(database_url)
    assert migrate(db, "demo", PKG) == ["001_init.sql", "002_more.sql"]
    assert migrate(db, "demo", PKG) == []
    with db.cursor() as cur:
        cur.execute("INSERT INTO demo.things (name, size) VALUES ('a', 3) RETURNING size")
        assert cur.fetchone()["size"] == 3
    db.close()


def test_concurrent_migrations_apply_once(database_url: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        db = Database(database_url)
        try:
            results.append(migrate(db, "race", PKG.replace("fixtures_migrations", "fixtures_race")))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = [r for r in results if r]
    assert applied == [["001_race.sql"]]


def test_pool_reuses_connections(database_url: str) -> None:
    # Each borrow used to open a new PostgreSQL connection (the pool kept none idle).
    db = Database(database_url)
    pids = set()
    for _ in range(20):
        with db.cursor() as cur:
            cur.execute("SELECT pg_backend_pid() AS pid")
            pids.add(cur.fetchone()["pid"])
    db.close()
    assert len(pids) == 1
