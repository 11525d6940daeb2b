"""Per-job limits: wall time, memory, result size and content; horses are recycled."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.helpers import alive

LIMITS = {
    "sleepy": {"time_seconds": 1},
    "hog": {"memory_mb": 64},
    "result": {"result_kb": 4},
}


@pytest.fixture
def worker(start_worker: Any) -> Any:
    return start_worker(
        "--processors",
        "sleepy,hog,result,checksum",
        "--concurrency",
        "1",
        extra_env={
            "BACKDROP_WORKER_LIMITS": json.dumps(LIMITS),
            "BACKDROP_WORKER_HORSE_MAX_RSS_MB": "128",
        },
    )


def _finished(tasks: Any, row: dict[str, Any]) -> dict[str, Any]:
    return tasks.wait_status(row["id"], "succeeded", "failed", "cancelled", timeout=30)


def test_a_job_past_its_time_limit_fails_and_its_horse_is_killed(worker: Any, tasks: Any) -> None:
    started = time.monotonic()
    done = _finished(tasks, tasks("sleepy", params={"seconds": 30}))
    assert (done["status"], done["error_code"], done["attempts"]) == (
        "failed",
        "time_limit_exceeded",
        1,
    )
    assert time.monotonic() - started < 15
    # The worker carries on with a new horse.
    assert _finished(tasks, tasks("checksum", b"next"))["status"] == "succeeded"
    assert worker.proc.poll() is None


def test_a_job_past_its_memory_limit_fails_cleanly(worker: Any, tasks: Any) -> None:
    done = _finished(tasks, tasks("hog", params={"mb": 256}))
    assert (done["status"], done["error_code"], done["attempts"]) == (
        "failed",
        "memory_limit_exceeded",
        1,
    )
    within = _finished(tasks, tasks("hog", params={"mb": 16}))
    assert within["status"] == "succeeded"


def test_a_horse_that_grew_too_big_is_replaced(worker: Any, tasks: Any) -> None:
    # A processor that leaks: within its 64 MiB per job, but the horse grows past 128 MiB.
    first = _finished(tasks, tasks("checksum", b"a"))
    small = _finished(tasks, tasks("hog", params={"mb": 8}))
    assert (
        small["result"]["pid"] == _finished(tasks, tasks("hog", params={"mb": 8}))["result"]["pid"]
    ), "a horse that stays small runs job after job"
    _finished(tasks, tasks("hog", params={"mb": 50, "leak": True}))
    big = _finished(tasks, tasks("hog", params={"mb": 50, "leak": True}))
    after = _finished(tasks, tasks("hog", params={"mb": 1}))
    assert first["status"] == big["status"] == "succeeded"
    assert big["result"]["pid"] != after["result"]["pid"]
    assert not alive(big["result"]["pid"])


def test_an_oversized_result_fails_once(worker: Any, tasks: Any) -> None:
    done = _finished(tasks, tasks("result", params={"size": 8000}))
    assert (done["status"], done["error_code"], done["attempts"]) == (
        "failed",
        "result_too_large",
        1,
    )
    assert done["result"] is None


def test_a_result_postgresql_cannot_store_fails_once(worker: Any, tasks: Any) -> None:
    done = _finished(tasks, tasks("result", params={"nul": True}))
    assert (done["status"], done["error_code"], done["attempts"]) == (
        "failed",
        "invalid_result",
        1,
    )
    ok = _finished(tasks, tasks("result", params={"size": 100}))
    assert ok["status"] == "succeeded" and ok["result"] == {"text": "x" * 100}
