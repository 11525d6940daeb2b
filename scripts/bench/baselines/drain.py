"""Fill a Celery or Dramatiq queue with checksum jobs, start its worker, time the drain.

    python drain.py celery|dramatiq --keys FILE [--inline] [--threads 8]

Runs in the bench's own virtualenv (see ``venv.py``). The queue is filled while no worker
runs; the figure is jobs / (last job's end - first job's start), taken from the times each
job reports, so the worker's start-up is not counted (as for Backdrop's workers). Prints one
JSON line: ``{"jobs", "seconds", "rate", "cpu_s", "errors"}``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import stackctl  # noqa: E402 - stdlib only, shared with the bench
from jobs import DRAMATIQ_DONE  # noqa: E402


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (reaped children included)."""
    return stackctl.group_cpu_seconds([pid])


def _fill(system: str, jobs: list[dict[str, Any]]) -> None:
    if system == "celery":
        from celery_job import checksum as celery_task

        for job in jobs:
            celery_task.apply_async(kwargs=job)
    else:
        from dramatiq_job import checksum as actor

        for job in jobs:
            actor.send(**job)


def _results(system: str, client: redis.Redis, backend: redis.Redis) -> list[dict[str, Any]]:
    if system == "celery":
        keys = list(backend.scan_iter("celery-task-meta-*", count=1000))
        values = backend.mget(keys) if keys else []
        out = []
        for raw in values:
            doc = json.loads(raw) if raw else {}
            out.append(doc.get("result") if doc.get("status") == "SUCCESS" else {"error": doc})
        return out
    return [json.loads(raw) for raw in client.lrange(DRAMATIQ_DONE, 0, -1)]


def _count(system: str, client: redis.Redis, backend: redis.Redis) -> int:
    return int(backend.dbsize()) if system == "celery" else int(client.llen(DRAMATIQ_DONE))


def main() -> int:
    """Fill, drain, report."""
    p = argparse.ArgumentParser()
    p.add_argument("system", choices=["celery", "dramatiq"])
    p.add_argument("--keys", type=Path, required=True, help="one S3 key per line")
    p.add_argument("--inline", action="store_true", help="1 KiB in the message, no S3 read")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args()
    broker = redis.Redis.from_url(os.environ["BENCH_BROKER"])
    backend = redis.Redis.from_url(os.environ["BENCH_BACKEND"])
    broker.flushdb()
    backend.flushdb()
    keys = args.keys.read_text().split()
    payload = base64.b64encode(os.urandom(1024)).decode()
    jobs = [{"data": payload} if args.inline else {"key": key} for key in keys]
    _fill(args.system, jobs)
    n = str(args.threads)
    commands = {
        "celery": "celery -A celery_job worker --pool threads --concurrency {n} --loglevel WARNING"
        " --without-gossip --without-mingle --without-heartbeat",
        "dramatiq": "dramatiq dramatiq_job --processes 1 --threads {n}",
    }
    name, *rest = commands[args.system].format(n=n).split()
    cmd = [str(Path(sys.executable).parent / name), *rest]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    worker = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + args.timeout
    seen, stalled_since = -1, time.monotonic()
    try:
        while (count := _count(args.system, broker, backend)) < len(jobs):
            now = time.monotonic()
            if count != seen:
                seen, stalled_since = count, now
            # Failing jobs never count: give up after 30 s without progress.
            if now > deadline or now - stalled_since > 30 or worker.poll() is not None:
                break
            time.sleep(0.05)
        cpu = _tree_cpu(worker.pid)
    finally:
        # Killed, process tree and all, once the figures are taken: a warm shutdown adds
        # 1-3 s per drain and measures nothing.
        for pid in stackctl.descendants(worker.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.wait()
    results = _results(args.system, broker, backend)
    good = [r for r in results if isinstance(r, dict) and "t0" in r]
    seconds = max(r["t1"] for r in good) - min(r["t0"] for r in good) if good else 0.0
    print(
        json.dumps(
            {
                "jobs": len(good),
                "seconds": seconds,
                "rate": len(good) / seconds if seconds > 0 else None,
                "cpu_s": cpu,
                "errors": len(jobs) - len(good),
            }
        )
    )
    broker.flushdb()
    backend.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
