"""Queue-only throughput: checksum jobs made ``queued`` straight through the task store (no
HTTP), drained by Backdrop's workers, by Celery and by Dramatiq on the same Redis and S3.

Backdrop: a bench-only database (``backdrop_bench``), Redis DB 9 of the shared server, bucket
``backdrop-bench`` on the e2e S3 stand-in. Each task is created, its 1 KiB input stored and
the row marked queued (with its ``queued`` event) exactly as the upload service does; only
the XADD waits until every worker answers ``/readyz``, then all jobs go out in one pipeline,
so the workers' start-up is not timed. The jobs belong to many users, each with as many as
the fair share (``BACKDROP_MAX_DISPATCHED_PER_USER``) admits, and are marked dispatched as
``jobs.send_job`` would: the figure is the queue's, not one user's share of the fleet, and
each finished job still pays for its owner's admission check.
Drain rate = jobs / (last ``finished_at`` - XADD).
Worker CPU per job = CPU of the worker processes and their children during the drain / jobs.

Baselines run ``baselines/drain.py`` in the bench's own virtualenv on the same 1 KiB objects.
Used alone by the worker engineers: ``make bench BENCH_ARGS="--only queue --quick"``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fleet
import redis
import stackctl
from backdrop_common import events, redis_keys, taskstore
from backdrop_common.config import BaseServiceSettings
from backdrop_common.db import Database
from backdrop_common.storage import Storage

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "baselines"))
import benchenv  # noqa: E402

DATABASE = "backdrop_bench"
DSN = f"postgresql://127.0.0.1:5432/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/9"
BASELINE_BROKER = "redis://127.0.0.1:6379/10"
BASELINE_BACKEND = "redis://127.0.0.1:6379/11"
BUCKET = "backdrop-bench"
DEFAULT_WORKERS = 2  # the dev stack's fleet (scripts/stack.py)
KiB = 1024


@dataclass
class Drain:
    """One drain of ``jobs`` jobs by one system."""

    system: str
    jobs: int
    seconds: float
    cpu_s: float | None = None
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        """Jobs per second."""
        return self.jobs / self.seconds if self.seconds > 0 else None

    @property
    def cpu_ms_per_job(self) -> float | None:
        """CPU milliseconds per job of the draining processes."""
        return None if self.cpu_s is None or not self.jobs else self.cpu_s * 1000 / self.jobs


def _settings() -> BaseServiceSettings:
    return BaseServiceSettings(
        env="development",
        database_url=DSN,
        redis_url=REDIS_URL,
        s3_endpoint_url=stackctl.S3,
        s3_bucket=BUCKET,
    )


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


class QueueBench:
    """The bench-only database, Redis DB and bucket, and the drains run on them."""

    def __init__(self, payload_size: int = KiB) -> None:
        self.payload_size = payload_size
        self.settings = _settings()
        _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        _psql(f"CREATE DATABASE {DATABASE}")
        self.db = Database(DSN, maxconn=16, keep_idle=16)
        taskstore.migrate_tasks(self.db)
        self.redis = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        self.redis.flushdb()
        self.storage = Storage(self.settings)
        self.storage.ensure_bucket()
        self.owner_base = uuid.uuid4()
        self.keys: list[str] = []
        self.seeded_since: Any = None  # the database's time when the last seed began

    def seed(self, count: int) -> list[taskstore.TaskRow]:
        """``count`` queued checksum tasks with their inputs stored (no XADD yet)."""

        def one(i: int) -> taskstore.TaskRow:
            share = self.settings.max_dispatched_per_user
            row, _ = taskstore.create_task(
                self.db,
                owner_id=uuid.uuid5(self.owner_base, str(i // share)),
                processor="checksum",
                params={},
                filename=f"q{i}.bin",
                size=self.payload_size,
                content_type="application/octet-stream",
                sha256=None,
                idempotency_key=None,
                request_hash=None,
                upload_window_s=3600,
            )
            self.storage.put_bytes(
                row["object_key"], os.urandom(self.payload_size), "application/octet-stream"
            )
            queued = taskstore.mark_queued(self.db, row["id"])
            if queued is None:
                raise RuntimeError(f"task {row['id']} did not become queued")
            events.append_event(self.redis, queued["id"], "status", taskstore.task_json(queued))
            return queued

        with self.db.cursor() as cur:
            cur.execute("SELECT now() AS t")
            self.seeded_since = cur.fetchone()["t"]
        with ThreadPoolExecutor(12) as pool:
            rows = list(pool.map(one, range(count)))
        ids = [r["id"] for r in rows]
        self.db.run(
            lambda cur: cur.execute(
                "UPDATE tasks.tasks SET dispatched_at = now() WHERE id = ANY(%s)", (ids,)
            )
        )
        self.keys = [str(r["object_key"]) for r in rows]
        return rows

    def drain_backdrop(self, count: int, workers: int, timeout_s: float = 600.0) -> Drain:
        """Seed ``count`` tasks, start ``workers`` worker processes, XADD, wait, measure."""
        rows = self.seed(count)
        ids = [str(r["id"]) for r in rows]
        procs = fleet.start_workers(workers, self.settings)
        try:
            fleet.wait_ready(procs)
            cpu_before = stackctl.group_cpu_seconds([p.pid for p in procs])
            servers = fleet.CpuWatch()
            servers.start()
            started = time.time()
            with self.redis.pipeline(transaction=False) as pipe:
                for task_id in ids:
                    pipe.xadd(redis_keys.job_stream("checksum"), {"task_id": task_id})
                pipe.execute()
            finished, statuses = self._wait_terminal(ids, timeout_s, procs)
            cpu = stackctl.group_cpu_seconds([p.pid for p in procs]) - cpu_before
            server_cpu = servers.stop()
        finally:
            fleet.stop_workers(procs)
        done = statuses.get("succeeded", 0)
        return Drain(
            f"backdrop {workers} worker(s)",
            done,
            (finished - started) if finished else 0.0,
            cpu,
            count - done,
            {"statuses": statuses, "concurrency": fleet.concurrency(), "server_cpu_s": server_cpu},
        )

    def _wait_terminal(
        self, ids: list[str], timeout_s: float, procs: list[subprocess.Popen[bytes]]
    ) -> tuple[float | None, dict[str, int]]:
        """Wait until no task is left unfinished or ``timeout_s`` passed; (last finished_at,
        status counts of ``ids``).

        The wait polls a count of this drain's unfinished rows (those created since its
        seed: the bench database holds only its own tasks) twice a second: the statuses of
        10,000 ids by ``ANY(array)`` cost 20 ms of CPU, which polled every 0.1 s took 8 % of
        the machine from the drain and added 0.5 ms per job to PostgreSQL's figure. The drain
        time comes from ``finished_at``, so how soon the end is noticed does not change it.
        """
        deadline = time.monotonic() + timeout_s
        unfinished = (
            "SELECT count(*) AS n FROM tasks.tasks WHERE created_at >= %s AND status <> ALL(%s)"
        )
        terminal = sorted(taskstore.TERMINAL)
        while time.monotonic() < deadline:
            with self.db.cursor() as cur:
                cur.execute(unfinished, (self.seeded_since, terminal))
                left = int(cur.fetchone()["n"])
            if not left:
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited during the drain (see .run/bench/worker-*.log)")
            time.sleep(0.5)
        sql = (
            "SELECT status, count(*) AS n, extract(epoch FROM max(finished_at)) AS last "
            "FROM tasks.tasks WHERE id = ANY(%s::uuid[]) GROUP BY status"
        )
        with self.db.cursor() as cur:
            cur.execute(sql, (ids,))
            found = cur.fetchall()
        statuses = {r["status"]: int(r["n"]) for r in found}
        lasts = [float(r["last"]) for r in found if r["last"] is not None]
        return (max(lasts) if lasts else None), statuses

    def drain_baseline(self, system: str, inline: bool = False, threads: int = 8) -> Drain:
        """Celery or Dramatiq draining jobs on the objects of the last seed."""
        python = benchenv.ensure()
        with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as fh:
            fh.write("\n".join(self.keys))
            keys_file = fh.name
        env = {
            **os.environ,
            "BENCH_BROKER": BASELINE_BROKER,
            "BENCH_BACKEND": BASELINE_BACKEND,
            "BENCH_S3_URL": stackctl.S3,
            "BENCH_S3_BUCKET": BUCKET,
        }
        cmd = [str(python), str(HERE / "baselines" / "drain.py"), system, "--keys", keys_file]
        cmd += ["--threads", str(threads), *(["--inline"] if inline else [])]
        servers = fleet.CpuWatch()
        servers.start()
        try:
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        finally:
            os.unlink(keys_file)
        server_cpu = servers.stop()
        doc = json.loads(done.stdout.strip().splitlines()[-1])
        label = f"{system} 1x{threads} threads" + (", 1 KiB in the message" if inline else "")
        extra = {"server_cpu_s_with_fill": server_cpu}
        return Drain(label, doc["jobs"], doc["seconds"], doc["cpu_s"], doc["errors"], extra)

    def close(self) -> None:
        """Remove the bench's objects and database."""
        self.storage.delete_prefix("users/")  # the bench's own bucket
        self.db.close()
        self.redis.flushdb()
        _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
