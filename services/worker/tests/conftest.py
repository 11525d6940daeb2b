"""Fixtures for the worker suite: a task factory, worker subprocesses, waiting helpers.

Workers run as real ``backdrop-worker`` subprocesses against this session's PostgreSQL,
Redis (DB 5) and moto S3, with ``tests/plugins`` on ``PYTHONPATH`` so the misbehaving test
processors are installed the way a third-party plugin would be.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from backdrop_common import jobs, redis_keys, taskstore
from backdrop_common.db import Database
from backdrop_common.redis_client import redis_from_url
from backdrop_common.storage import Storage
from worker.consumer import StreamConsumer
from worker.horse_handle import HorsePool
from worker.processors.registry import load_processors
from worker.runtime import Runtime
from worker.settings import WorkerSettings

from tests.helpers import wait_for

PLUGINS = Path(__file__).parent / "plugins"
WORKER_BIN = Path(sys.executable).with_name("backdrop-worker")


@pytest.fixture
def env(infra_env: dict[str, str], s3_bucket: str) -> dict[str, str]:
    """Environment for a worker subprocess (and the settings of in-process helpers)."""
    return {
        **infra_env,
        "BACKDROP_S3_BUCKET": s3_bucket,
        "BACKDROP_WORKER_HEALTH_PORT": "0",
        "BACKDROP_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(PLUGINS),
    }


@pytest.fixture
def settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> WorkerSettings:
    """Worker settings pointing at this session's servers."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return WorkerSettings()


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    """The task store database, migrated."""
    database = Database(database_url)
    taskstore.migrate_tasks(database)
    yield database
    database.close()


@pytest.fixture
def storage(settings: WorkerSettings) -> Storage:
    """Storage on this test's bucket."""
    return Storage(settings)


class TaskFactory:
    """Creates queued tasks the way upload does: row, object, queued, XADD."""

    def __init__(
        self, db: Database, storage: Storage, client: redis.Redis, share: int = 1_000_000
    ) -> None:
        self.db, self.storage, self.redis = db, storage, client
        self.owner = uuid.uuid4()
        # The owner's fair share (jobs on a stream or running); test_fair_share.py sets it,
        # the other tests send every job at once.
        self.share = share

    def __call__(
        self,
        processor: str,
        data: bytes = b"hello",
        params: dict[str, Any] | None = None,
        filename: str = "input.bin",
        content_type: str = "application/octet-stream",
        enqueue: bool = True,
    ) -> dict[str, Any]:
        row, _ = taskstore.create_task(
            self.db,
            owner_id=self.owner,
            processor=processor,
            params=params or {},
            filename=filename,
            size=len(data),
            content_type=content_type,
            sha256=hashlib.sha256(data).hexdigest(),
            idempotency_key=None,
            request_hash=None,
            upload_window_s=600,
        )
        self.storage.put_bytes(row["object_key"], data, content_type)
        row = taskstore.mark_queued(self.db, row["id"])
        assert row is not None
        if enqueue:
            jobs.send_job(self.db, self.redis, row, max_dispatched=self.share)
        return row

    def get(self, task_id: Any) -> dict[str, Any]:
        """The task's current row."""
        row = taskstore.get_task(self.db, task_id)
        assert row is not None
        return row

    def wait_status(self, task_id: Any, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        """Wait until the task reaches one of ``statuses``; returns its row."""
        return wait_for(
            lambda: (r := self.get(task_id))["status"] in statuses and r, timeout, 0.005
        )


@pytest.fixture
def tasks(db: Database, storage: Storage, redis_client: redis.Redis) -> TaskFactory:
    """Factory of queued tasks."""
    return TaskFactory(db, storage, redis_client)


@pytest.fixture
def owner_tasks(
    db: Database, storage: Storage, redis_client: redis.Redis
) -> Callable[..., TaskFactory]:
    """``owner_tasks(share=n)``: a factory of queued tasks of one more owner, whose jobs are
    sent within a fair share of ``n``."""
    return functools.partial(TaskFactory, db, storage, redis_client)


@pytest.fixture
def runtime(
    settings: WorkerSettings, db: Database, storage: Storage, redis_client: Any
) -> Iterator[Runtime]:
    """An in-process worker runtime (consumer ``me`` serving ``checksum``)."""
    client = redis_from_url(settings.redis_url)
    consumer = StreamConsumer(client, ["checksum"], "me", block_ms=50)
    consumer.ensure_groups()
    horses = HorsePool(settings, 1)
    yield Runtime(
        settings, db, client, storage, consumer, load_processors(["checksum"]), "me", horses
    )
    horses.close()


class WorkerProcess:
    """A ``backdrop-worker`` subprocess with its own log file."""

    def __init__(self, env: dict[str, str], log_dir: Path, *args: str, named: bool = True) -> None:
        # Unnamed: the worker picks its own stable name (found from its presence hash).
        self.worker_id: str | None = f"test-{uuid.uuid4().hex[:8]}" if named else None
        self.log_path = log_dir / f"{self.worker_id or uuid.uuid4().hex[:8]}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(WORKER_BIN), *(["--worker-id", self.worker_id] if named else []), *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.health_port: int | None = None

    def wait_ready(self, client: redis.Redis, timeout: float = 30) -> WorkerProcess:
        """Wait for the presence hash (written once consuming starts) and a ready /readyz."""

        def registered() -> bool:
            assert self.proc.poll() is None, f"worker exited early:\n{self.logs()}"
            if self.worker_id is None:
                self.worker_id = next(
                    (
                        key.removeprefix(redis_keys.WORKER_PREFIX)
                        for key in client.scan_iter(f"{redis_keys.WORKER_PREFIX}*")
                        if client.hget(key, "pid") == str(self.proc.pid)
                        and client.hget(key, "health_port")
                    ),
                    None,
                )
                if self.worker_id is None:
                    return False
            port = client.hget(redis_keys.worker_key(self.worker_id), "health_port")
            self.health_port = int(port) if port else None
            return bool(self.health_port)

        try:
            wait_for(registered, timeout, 0.05)
        except AssertionError as exc:
            raise AssertionError(f"worker not ready:\n{self.logs()[-5000:]}") from exc
        assert requests.get(self.url("/readyz"), timeout=5).status_code == 200
        return self

    def url(self, path: str) -> str:
        """A URL on the worker's health port."""
        return f"http://127.0.0.1:{self.health_port}{path}"

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the worker process (not its children)."""
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for exit; returns the exit code."""
        return self.proc.wait(timeout)

    def logs(self) -> str:
        """What the worker logged so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines."""
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def start_worker(
    env: dict[str, str], tmp_path: Path, redis_client: redis.Redis
) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: ``start_worker(*cli_args, ready=True, named=True)`` runs a worker subprocess."""
    started: list[WorkerProcess] = []

    def start(
        *args: str,
        ready: bool = True,
        extra_env: dict[str, str] | None = None,
        named: bool = True,
    ) -> WorkerProcess:
        worker = WorkerProcess({**env, **(extra_env or {})}, tmp_path, *args, named=named)
        started.append(worker)
        if ready:
            worker.wait_ready(redis_client)
        return worker

    yield start
    for worker in started:
        worker.stop()
