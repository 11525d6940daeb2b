"""Submitting tasks through the public API and waiting for them in PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
from backdrop_client import Client
from backdrop_contract.states import TERMINAL

# Task counts scale with BACKDROP_FAULTS_SCALE (1 = the figures; lower on a busy box).
SCALE = float(os.environ.get("BACKDROP_FAULTS_SCALE", "1"))


def scaled(n: int) -> int:
    """``n`` tasks at the suite's scale (at least 10)."""
    return max(10, int(n * SCALE))


@dataclass
class Submitted:
    """One task the suite sent: what its result must be."""

    task_id: str
    tag: str
    sha256: str


@dataclass
class Batch:
    """The tasks of one scenario."""

    tasks: list[Submitted] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        """Every task id."""
        return [t.task_id for t in self.tasks]


def submit_digests(
    client: Client, ledger: Path, n: int, *, hold_s: float = 0.0, threads: int = 4
) -> Batch:
    """Send ``n`` ``fault-digest`` tasks (1-4 KiB of random bytes each), ``threads`` at once."""

    def one(_: int) -> Submitted:
        worker = local_client(client)
        data = os.urandom(1024 + int.from_bytes(os.urandom(2), "big") % 3072)
        tag = uuid.uuid4().hex
        params = {"tag": tag, "ledger": str(ledger), "hold_s": hold_s}
        task = worker.submit("fault-digest", data, params=params, filename=f"{tag}.bin")
        return Submitted(task["id"], tag, hashlib.sha256(data).hexdigest())

    with ThreadPoolExecutor(threads) as pool:
        return Batch(list(pool.map(one, range(n))))


_LOCAL: dict[int, Client] = {}


def local_client(client: Client) -> Client:
    """A fork of ``client`` for the calling thread (requests sessions are not thread-safe)."""
    import threading

    key = threading.get_ident()
    if key not in _LOCAL:
        _LOCAL[key] = client.fork()
    return _LOCAL[key]


def rows(db_url: str, ids: list[str]) -> list[dict[str, Any]]:
    """The task rows of ``ids`` straight from PostgreSQL."""
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT * FROM tasks.tasks WHERE id = ANY(%s::uuid[])", (ids,))
            return [dict(r) for r in cur.fetchall()]
    finally:
        conn.close()


def wait_terminal(db_url: str, ids: list[str], timeout: float) -> float | None:
    """Wait until every task is terminal; the monotonic time it happened (None: timed out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = rows(db_url, ids)
        except psycopg2.OperationalError:
            found = []  # PostgreSQL is down in this scenario: ask again
        if len(found) == len(ids) and all(r["status"] in TERMINAL for r in found):
            return time.monotonic()
        time.sleep(0.25)
    return None
