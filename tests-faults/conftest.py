"""The fault suite's world: its own PostgreSQL cluster, Redis and S3 stand-in, the stack on
top of them (``scripts/stack.py --profile faults``), a signed-in client, and the summary.

Run with ``make test-faults`` (one at a time on a machine: the stack's ports are fixed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from backdrop_client import Client
from backdrop_common.config import BaseServiceSettings
from backdrop_common.storage import Storage
from faultkit.servers import MotoServer, PostgresCluster, RedisServer
from faultkit.stack import GATEWAY, RUN, S3_PORT, Stack

SUMMARY: list[str] = []

LEASE_S = 4.0
# Short timers so recoveries take seconds: takeover after 1.5 leases, one sweep a second.
STACK_ENV = {
    "BACKDROP_ENV": "test",
    "BACKDROP_WORKER_LEASE_SECONDS": str(LEASE_S),
    "BACKDROP_WORKER_CONCURRENCY": "2",
    "BACKDROP_WORKER_RETRY_BASE_SECONDS": "0.5",
    "BACKDROP_WORKER_RETRY_CAP_SECONDS": "2",
    "BACKDROP_SWEEP_INTERVAL_S": "1",
    "BACKDROP_RELAY_AFTER_S": "1",
    "BACKDROP_MAX_UNFINISHED_TASKS": "2000",
    "BACKDROP_DB_POOL_IDLE": "2",
}


@dataclass
class World:
    """Everything a scenario touches."""

    root: Path
    pg: PostgresCluster
    redis: RedisServer
    s3: MotoServer
    stack: Stack
    client: Client
    storage: Storage
    ledger: Path
    state: Path

    @property
    def db_url(self) -> str:
        """The stack's database."""
        return self.pg.url("backdrop")


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    """Start the servers and the stack once; tear everything down at the end."""
    root = Path(tempfile.mkdtemp(prefix="backdrop-faults-"))
    os.chmod(root, 0o755)  # noqa: S103 - PostgreSQL runs as its own user when we are root
    state = root / "state"
    state.mkdir(mode=0o777)
    pg, rds, s3 = PostgresCluster(root / "pg"), RedisServer(root / "redis"), None
    stack = None
    try:
        pg.init()
        rds.start()
        s3 = MotoServer(root / "s3", S3_PORT)
        s3.start()
        env = {**STACK_ENV, "BACKDROP_DATABASE_URL": pg.url(), "BACKDROP_REDIS_URL": rds.url}
        stack = Stack(env)
        stack.up()
        # The overrides reached every service (issue 10 item 10): our cluster has their schema.
        assert "tasks" in pg.schemas("backdrop"), "the stack did not use BACKDROP_DATABASE_URL"
        client = Client(GATEWAY)
        name = f"chaos{uuid.uuid4().hex[:10]}"
        client.register(f"{name}@example.com", name, "correct horse battery 42")
        client.login(name, "correct horse battery 42")
        settings = BaseServiceSettings(env="test", s3_endpoint_url=s3.url, s3_bucket="backdrop")
        yield World(root, pg, rds, s3, stack, client, Storage(settings), state / "ledger", state)
    finally:
        if stack is not None:
            stack.down()
        if s3 is not None:
            s3.stop()
        rds.kill()
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def report() -> Iterator[list[str]]:
    """Scenarios append their summary lines here."""
    lines: list[str] = []
    yield lines
    SUMMARY.extend(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per scenario, also written to .run/faults/summary.txt."""
    if not SUMMARY:
        return
    terminalreporter.section("fault suite summary")
    for line in SUMMARY:
        terminalreporter.write_line(line)
    RUN.mkdir(parents=True, exist_ok=True)
    (RUN / "summary.txt").write_text("\n".join(SUMMARY) + "\n")
