"""Versioned SQL migrations, one schema per owner, safe when services start together."""

from __future__ import annotations

import logging
import zlib
from importlib import resources

from psycopg2 import sql

from backdrop_common.db import Database

log = logging.getLogger(__name__)


def _files(package: str) -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files(package).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(db: Database, schema: str, package: str) -> list[str]:
    """Apply the ``NNN_*.sql`` files of ``package`` to ``schema`` not applied yet.

    All of it runs in one transaction under an advisory lock keyed by the schema, so two
    processes migrating at once serialise and the second finds nothing to do. Returns the
    names of the files applied.
    """
    lock_key = zlib.crc32(f"backdrop-migrate:{schema}".encode())
    applied: list[str] = []
    with db.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        ident = sql.Identifier(schema)
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(ident)
        )
        cur.execute(sql.SQL("SELECT version FROM {}.schema_migrations").format(ident))
        done = {row["version"] for row in cur.fetchall()}
        for version, name, script in _files(package):
            if version in done:
                continue
            log.info("applying migration %s to schema %s", name, schema)
            cur.execute(script)
            cur.execute(
                sql.SQL("INSERT INTO {}.schema_migrations (version, name) VALUES (%s, %s)").format(
                    ident
                ),
                (version, name),
            )
            applied.append(name)
    return applied
