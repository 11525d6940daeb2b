"""Migrations apply in order, once, and safely when several processes race."""

from __future__ import annotations

import json
import os
import threading
import uuid
from importlib import resources
from pathlib import Path

import pytest
from backdrop_common import taskstore
from backdrop_common.db import Database
from backdrop_common.migrations import migrate
from backdrop_testing import infra
from backdrop_testing.tasks import new_task

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


def test_the_task_document_migration_writes_the_documents_of_existing_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 009 adds the stored document (its trigger writes it from then on); a task made before
    # it must be answered with a document too, and the same one task_json writes.
    before = tmp_path / "tasks_before_009"
    before.mkdir()
    (before / "__init__.py").write_text("")
    for path in resources.files("backdrop_common.migrations.tasks").iterdir():
        if path.name.endswith(".sql") and path.name < "009":
            (before / path.name).write_text(path.read_text(encoding="utf-8"))
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"backdrop_test_migration_009_{os.getpid()}"
    db = Database(infra.recreate_database(name))
    try:
        migrate(db, "tasks", "tasks_before_009")
        owner = uuid.uuid4()
        made = new_task(db, owner_id=owner)
        assert taskstore.migrate_tasks(db) == ["009_task_document.sql"]
        row = taskstore.get_owned_document(db, made["id"], owner)
        assert json.loads(row["doc"]) == taskstore.task_json(made)
    finally:
        db.close()
        infra.drop_database(name)
