"""Worker processes the bench starts itself, and the CPU of the servers they lean on."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request

import stackctl
from backdrop_common.config import BaseServiceSettings

HEALTH_BASE = 19150  # worker health ports 19150.. (clear of the e2e stack's 19100..)


def concurrency() -> int:
    """The default number of job slots per worker process."""
    from worker.settings import WorkerSettings

    return WorkerSettings(env="development").worker_concurrency


def start_workers(n: int, settings: BaseServiceSettings) -> list[subprocess.Popen[bytes]]:
    """Start ``n`` ``backdrop-worker`` processes on ``settings`` (health ports from 19150)."""
    logs = stackctl.ROOT / ".run" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    base = {
        **os.environ,
        "BACKDROP_ENV": "development",
        "BACKDROP_DATABASE_URL": settings.database_url,
        "BACKDROP_REDIS_URL": settings.redis_url,
        "BACKDROP_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "BACKDROP_S3_BUCKET": settings.s3_bucket,
        "BACKDROP_LOG_LEVEL": "WARNING",
    }
    procs = []
    for i in range(n):
        env = {
            **base,
            "BACKDROP_WORKER_ID": f"bench-worker-{i}",
            "BACKDROP_WORKER_HEALTH_PORT": str(HEALTH_BASE + i),
        }
        with (logs / f"worker-{i}.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [str(stackctl.ROOT / ".venv" / "bin" / "backdrop-worker")],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return procs


def wait_ready(procs: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    """Wait until every worker answers ``/readyz``."""
    ports = [HEALTH_BASE + i for i in range(len(procs))]
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"bench workers not ready on ports {pending}")
        for port in list(pending):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        pending.remove(port)
            except OSError:
                pass
        time.sleep(0.1)


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, then wait (SIGKILL after 30 s)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _infra_pids() -> dict[str, list[int]]:
    """PIDs of the shared servers a drain leans on, to show where CPU goes (PostgreSQL
    counts every backend, other users' too)."""
    found: dict[str, list[int]] = {"postgres": [], "redis": [], "s3": []}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        cmd = stackctl.command_line(entry)
        if cmd is None:
            continue
        if cmd.startswith("postgres") or "/postgres " in cmd:
            found["postgres"].append(int(entry))
        elif cmd.startswith("redis-server") and ":6379" in cmd:
            found["redis"].append(int(entry))
        elif "moto_server" in cmd and stackctl.S3.rsplit(":", 1)[1] in cmd:
            found["s3"].append(int(entry))
    return found


class CpuWatch:
    """CPU seconds each shared server used between :meth:`start` and :meth:`stop`."""

    def __init__(self) -> None:
        self.pids = _infra_pids()
        self.first: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: stackctl.group_cpu_seconds(pids) for name, pids in self.pids.items()}

    def start(self) -> None:
        """Take the first reading."""
        self.first = self._now()

    def stop(self) -> dict[str, float]:
        """CPU seconds per server since :meth:`start`."""
        return {k: round(v - self.first.get(k, 0.0), 2) for k, v in self._now().items()}
