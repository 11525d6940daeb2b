"""Processors that fail, crash, die or ask for a retry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from backdrop_common import jobs

from tests.helpers import pending, wait_for


@pytest.fixture
def worker(start_worker: Any) -> Any:
    # No backoff: nothing relays a delayed retry in this suite (the sweeper does in a stack).
    return start_worker(
        "--processors",
        "crash,fail,segv,flaky,image-thumbnail,checksum",
        extra_env={"BACKDROP_WORKER_RETRY_BASE_SECONDS": "0"},
    )


def _finished(tasks: Any, row: dict[str, Any]) -> dict[str, Any]:
    return tasks.wait_status(row["id"], "succeeded", "failed", "cancelled", timeout=30)


def test_processor_error_fails_with_its_code(worker: Any, tasks: Any, redis_client: Any) -> None:
    done = _finished(tasks, tasks("fail"))
    assert done["status"] == "failed"
    assert (done["error_code"], done["error_message"]) == (
        "bad_input",
        "The input is not what this processor expects.",
    )
    assert done["attempts"] == 1  # a clean failure is never retried
    wait_for(lambda: pending(redis_client, "fail") == 0, 5)


def test_crash_is_generic_in_the_row_and_detailed_in_the_log(
    worker: Any, tasks: Any, redis_client: Any
) -> None:
    row = tasks("crash")
    done = _finished(tasks, row)
    assert done["status"] == "failed"
    assert done["error_code"] == "processor_crashed"
    assert done["error_message"] == "The processor failed unexpectedly."
    assert "hunter2" not in json.dumps(done, default=str)
    assert "Traceback" not in json.dumps(done, default=str)
    # The traceback is in the JSON log, tagged with the task id.
    records = wait_for(
        lambda: [r for r in worker.log_records() if "hunter2" in r.get("exc_info", "")], 5
    )
    assert records[0]["task_id"] == str(row["id"])


def test_a_horse_killed_once_is_retried(worker: Any, tasks: Any, tmp_path: Path) -> None:
    # Like an out-of-memory kill: the next attempt, on a fresh horse, succeeds.
    done = _finished(tasks, tasks("segv", params={"marker": str(tmp_path / "m")}))
    assert (done["status"], done["attempts"], done["result"]) == (
        "succeeded",
        2,
        {"survived": True},
    )


def test_a_horse_killed_every_time_stops_at_the_poison_limit(worker: Any, tasks: Any) -> None:
    done = _finished(tasks, tasks("segv"))
    assert (done["status"], done["error_code"]) == ("failed", "retries_exhausted")
    assert done["attempts"] == done["max_attempts"] == 5
    assert "killed (SIGSEGV)" in done["error_message"]
    after = _finished(tasks, tasks("checksum", b"still serving"))
    assert after["status"] == "succeeded"


def test_corrupt_png_is_invalid_input(worker: Any, tasks: Any) -> None:
    row = tasks(
        "image-thumbnail",
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 100,
        {"max_width": 16, "max_height": 16, "format": "png"},
        filename="broken.png",
        content_type="image/png",
    )
    done = _finished(tasks, row)
    assert (done["status"], done["error_code"]) == ("failed", "invalid_input")
    assert done["artifacts"] == []


def test_missing_input_fails_cleanly(worker: Any, tasks: Any, storage: Any) -> None:
    row = tasks("checksum", b"soon gone", enqueue=False)
    storage.delete(row["object_key"])
    jobs.enqueue_job(tasks.redis, "checksum", row["id"])
    done = _finished(tasks, row)
    assert (done["status"], done["error_code"]) == ("failed", "input_missing")


def test_invalid_params_fail_without_retry(worker: Any, tasks: Any) -> None:
    done = _finished(tasks, tasks("checksum", b"x", {"algorithms": ["crc0"]}))
    assert (done["status"], done["error_code"]) == ("failed", "invalid_params")


def test_retry_requeues_then_succeeds(worker: Any, tasks: Any, tmp_path: Path) -> None:
    row = tasks("flaky", params={"marker": str(tmp_path / "m")})
    done = _finished(tasks, row)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2 and done["result"] == {"attempt": 2}


def test_retry_gives_up_after_max_attempts(worker: Any, tasks: Any, tmp_path: Path) -> None:
    row = tasks("flaky", params={"marker": str(tmp_path / "m"), "always": True})
    done = _finished(tasks, row)
    assert (done["status"], done["error_code"]) == ("failed", "retries_exhausted")
    assert done["attempts"] == done["max_attempts"] == 5


def test_job_whose_worker_died_on_every_attempt_is_not_run_again(
    worker: Any, tasks: Any, db: Any, redis_client: Any
) -> None:
    # As if the last allowed attempt's worker was SIGKILLed: running, lease long lapsed.
    row = tasks("checksum", enqueue=False)
    with db.cursor() as cur:
        cur.execute(
            "UPDATE tasks.tasks SET status = 'running', attempts = max_attempts,"
            " worker_id = 'dead-worker', lease_until = now() - interval '1 hour'"
            " WHERE id = %s",
            (row["id"],),
        )
    jobs.enqueue_job(redis_client, "checksum", row["id"])
    done = _finished(tasks, row)
    assert (done["status"], done["error_code"]) == ("failed", "retries_exhausted")
    assert done["result"] is None
    wait_for(lambda: pending(redis_client, "checksum") == 0, 5)
