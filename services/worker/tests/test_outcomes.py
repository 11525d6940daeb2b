"""``finalise``: every outcome kind → the task's final state, its event, its ACK, its files.

Table-driven and in-process (no worker subprocess): a task is claimed by consumer ``me``,
its message read, an artifact written under its prefix, then one outcome is finalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from backdrop_common import events, redis_keys, taskstore
from worker.consumer import Delivery
from worker.outcomes import artifact_prefix, finalise
from worker.protocol import Outcome
from worker.runtime import Runtime
from worker.watch import KILLED_AFTER_DEADLINE

from tests.helpers import pending


@dataclass(frozen=True)
class Case:
    """One row of the table: an outcome and everything it must lead to."""

    outcome: Outcome
    status: str
    error_code: str | None
    label: str
    attempts: int = 1  # after finalising (the claim made it 1; a hand-back refunds it)
    requeued_now: bool = False  # a new message is on the stream for the next attempt
    artifacts_kept: bool = False
    last_attempt: bool = False  # the task is on its last allowed attempt


CASES = {
    "success": Case(Outcome("succeeded", result={"n": 1}), "succeeded", None, "succeeded",
                    artifacts_kept=True),
    "processor error": Case(Outcome("failed", code="bad_input", message="no"), "failed",
                            "bad_input", "failed"),
    "crash": Case(Outcome.crashed(), "failed", "processor_crashed", "failed"),
    "horse killed": Case(Outcome.killed("SIGKILL"), "queued", "processor_killed", "retry",
                         requeued_now=True),
    "horse killed on the last attempt": Case(Outcome.killed("SIGKILL"), "failed",
                                             "retries_exhausted", "failed", last_attempt=True),
    "retry now": Case(Outcome("retry", delay=0), "queued", "retrying", "retry",
                      requeued_now=True),
    "retry later": Case(Outcome("retry", delay=60), "queued", "retrying", "retry"),
    "retry on the last attempt": Case(Outcome("retry", delay=0), "failed", "retries_exhausted",
                                      "failed", last_attempt=True),
    "cancelled": Case(Outcome("cancelled"), "cancelled", None, "cancelled"),
    "killed after the cancel deadline": Case(Outcome("cancelled", message=KILLED_AFTER_DEADLINE),
                                             "cancelled", "cancelled", "cancelled"),
    "handed back": Case(Outcome.handed_back(), "queued", None, "handed_back", attempts=0,
                        requeued_now=True),
}  # fmt: skip


def _claimed(runtime: Runtime, tasks: Any, last_attempt: bool) -> tuple[dict[str, Any], Delivery]:
    """A task claimed by ``me`` with its message delivered to ``me`` and one artifact written."""
    row = tasks("checksum", b"data")
    if last_attempt:
        with tasks.db.cursor() as cur:
            cur.execute(
                "UPDATE tasks.tasks SET attempts = max_attempts - 1 WHERE id = %s", (row["id"],)
            )
    (delivery,) = runtime.consumer.read(1)
    claimed = taskstore.claim(tasks.db, row["id"], "me", 60)
    assert claimed is not None
    runtime.storage.put_bytes(artifact_prefix(claimed) + "part.bin", b"x", "text/plain")
    return claimed, delivery


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_outcome_reaches_its_state(runtime: Runtime, tasks: Any, case: Case) -> None:
    runtime.settings.worker_retry_base_seconds = 0.0  # a retry with no delay of its own: now
    row, delivery = _claimed(runtime, tasks, case.last_attempt)

    assert finalise(runtime, delivery, row, case.outcome) == (case.label, True)

    after = tasks.get(row["id"])
    assert (after["status"], after["error_code"]) == (case.status, case.error_code)
    if not case.last_attempt:
        assert after["attempts"] == case.attempts
    if case.status == "succeeded":
        assert after["result"] == {"n": 1}
    # The message is ACKed and deleted; only a job that goes straight back leaves one.
    assert pending(tasks.redis, "checksum") == 0
    waiting = tasks.redis.xlen(redis_keys.job_stream("checksum"))
    assert waiting == (1 if case.requeued_now else 0)
    # Clients hear about it: the last status event carries the new state.
    *_, (_, kind, doc) = events.read_events(tasks.redis, str(row["id"]), "0-0", 0)
    assert (kind, doc["status"]) == ("status", case.status)
    left = runtime.storage.head(artifact_prefix(row) + "part.bin")
    assert (left is not None) == case.artifacts_kept


def test_a_success_after_an_accepted_cancel_ends_cancelled(runtime: Runtime, tasks: Any) -> None:
    row, delivery = _claimed(runtime, tasks, last_attempt=False)
    taskstore.request_cancel(tasks.db, row["id"], None)  # the worker never heard of it
    outcome = Outcome("succeeded", result={"n": 1})
    assert finalise(runtime, delivery, row, outcome) == ("cancelled", True)
    after = tasks.get(row["id"])
    assert (after["status"], after["result"]) == ("cancelled", None)
    assert runtime.storage.head(artifact_prefix(row) + "part.bin") is None


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_task_taken_over_is_left_alone(runtime: Runtime, tasks: Any, case: Case) -> None:
    row, delivery = _claimed(runtime, tasks, case.last_attempt)
    # Our lease lapsed and another worker took the task over.
    with tasks.db.cursor() as cur:
        cur.execute("UPDATE tasks.tasks SET worker_id = 'other' WHERE id = %s", (row["id"],))

    assert finalise(runtime, delivery, row, case.outcome) == ("lease_lost", False)

    after = tasks.get(row["id"])
    assert (after["status"], after["worker_id"]) == ("running", "other")
    assert pending(tasks.redis, "checksum") == 1  # the new holder may depend on it
    assert runtime.storage.head(artifact_prefix(row) + "part.bin") is not None


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_outcome_runs_the_owners_admission_once(
    runtime: Runtime, tasks: Any, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The slot the job leaves goes to the owner's next job: by the release, or (a job sent
    # straight back) by that send's own admission, never both.
    runtime.settings.worker_retry_base_seconds = 0.0
    row, delivery = _claimed(runtime, tasks, case.last_attempt)
    tasks("checksum", b"next", enqueue=False)  # the owner's next job waits for a slot
    admit = taskstore.admit_waiting
    calls: list[object] = []

    def counted(db: Any, owner_id: Any, cap: int) -> Any:
        calls.append(owner_id)
        return admit(db, owner_id, cap)

    monkeypatch.setattr(taskstore, "admit_waiting", counted)
    finalise(runtime, delivery, row, case.outcome)
    assert calls == [row["owner_id"]]
