"""The worker's health port, presence hash and processor catalogue."""

from __future__ import annotations

import json
import signal
from typing import Any

import requests
from backdrop_common.redis_keys import PROCESSORS_KEY, worker_key

from tests.helpers import wait_for


def test_health_endpoints_presence_and_catalogue(
    start_worker: Any, tasks: Any, redis_client: Any
) -> None:
    # A short grace: the SIGTERM at the end hands the 30 s sleepy job back after 1 s instead
    # of waiting the default 20 s for it (the grace itself is test_reliability's).
    worker = start_worker(
        "--processors", "checksum,sleepy", "--concurrency", "3", "--shutdown-grace", "1"
    )
    assert requests.get(worker.url("/healthz"), timeout=5).json() == {"status": "ok"}
    ready = requests.get(worker.url("/readyz"), timeout=5).json()
    assert ready == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "storage": "ok", "jobs": "ok"},
    }

    presence = redis_client.hgetall(worker_key(worker.worker_id))
    assert json.loads(presence["processors"]) == ["checksum", "sleepy"]
    assert presence["concurrency"] == "3" and int(presence["pid"]) == worker.proc.pid
    assert 0 < redis_client.ttl(worker_key(worker.worker_id)) <= 30

    catalogue = redis_client.hgetall(PROCESSORS_KEY)
    assert set(catalogue) == {"checksum", "sleepy"}
    checksum = json.loads(catalogue["checksum"])
    assert checksum["name"] == "checksum" and "properties" in checksum["params_schema"]

    row = tasks("sleepy", params={"seconds": 30})
    tasks.wait_status(row["id"], "running")
    jobs = wait_for(lambda: json.loads(redis_client.hget(worker_key(worker.worker_id), "jobs")), 10)
    assert jobs == [str(row["id"])]
    metrics = requests.get(worker.url("/metrics"), timeout=5).text
    assert 'backdrop_worker_jobs_started_total{processor="sleepy"} 1.0' in metrics
    assert "backdrop_worker_jobs_running 1.0" in metrics

    done = tasks("checksum", b"abc")
    tasks.wait_status(done["id"], "succeeded")
    # The job's time is observed once the worker is done with it, a moment after the row
    # says succeeded (it ACKs and sends the owner's next held job in between).
    seconds = 'backdrop_worker_job_seconds_count{outcome="succeeded",processor="checksum"} 1.0'

    def observed() -> str | None:
        text = requests.get(worker.url("/metrics"), timeout=5).text
        return text if seconds in text else None

    metrics = wait_for(observed, 10)
    assert 'backdrop_worker_jobs_succeeded_total{processor="checksum"} 1.0' in metrics

    # A flushed Redis heals: the catalogue comes back with the next presence beat.
    redis_client.delete(PROCESSORS_KEY)
    wait_for(lambda: redis_client.hlen(PROCESSORS_KEY) == 2, 10, 0.2)

    worker.signal(signal.SIGTERM)
    worker.proc.wait(30)
    assert not redis_client.exists(worker_key(worker.worker_id))


def _listening_address(port: int) -> str:
    """The local address a LISTEN socket on ``port`` is bound to (from /proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                return ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    raise AssertionError(f"nothing listens on {port}")


def test_health_server_binds_the_configured_address(start_worker: Any, redis_client: Any) -> None:
    assert _listening_address(start_worker().health_port) == "127.0.0.1"  # the default
    chosen = start_worker(extra_env={"BACKDROP_WORKER_HEALTH_HOST": "127.0.0.2"}, ready=False)
    key = worker_key(chosen.worker_id)
    port = wait_for(lambda: int(redis_client.hget(key, "health_port") or 0), 30, 0.1)
    assert _listening_address(port) == "127.0.0.2"


def test_unknown_processor_is_a_usage_error(start_worker: Any) -> None:
    worker = start_worker("--processors", "no-such-thing", ready=False)
    assert worker.wait(30) == 2
    assert "unknown processor" in worker.logs()
