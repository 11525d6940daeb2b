"""Worker side: turning how a job ended into the task's final state, then ACKing its message.

Two steps. :func:`decide` is pure: outcome + attempts + retry policy → a :class:`Step`
(succeed, cancel, fail, requeue, hand back), where every outcome is explicitly retryable or
final (``Outcome.retryable``); the policy (``backdrop_common.retries``) says whether another
attempt is allowed and how long it waits. :func:`finalise` writes the step.

Order matters: the state is written first and the message ACKed last, so a crash in
between leaves a pending message whose redelivery finds a finished task (claim → None →
ACK). Whenever a transition matches nothing, the task is no longer ours (the lease lapsed
and someone else took over): we then neither publish nor ACK, because the message may now
belong to that other worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import redis
from backdrop_common import events, jobs, taskstore
from backdrop_common.errors import Unavailable
from backdrop_common.retries import EXHAUSTED, RetryPolicy, exhausted_message
from backdrop_common.storage import artifact_key

from worker import metrics
from worker.consumer import Delivery
from worker.protocol import Outcome
from worker.runtime import Runtime

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 24 * 3600.0


@dataclass(frozen=True)
class Step:
    """What to write for an outcome."""

    action: Literal["succeed", "cancel", "fail", "requeue", "hand_back"]
    code: str | None = None
    message: str | None = None
    delay: float = 0.0
    last_error: tuple[str, str] | None = None  # the cause of a retries_exhausted failure


def decide(outcome: Outcome, attempts: int, max_attempts: int, policy: RetryPolicy) -> Step:
    """The step for ``outcome`` on attempt ``attempts`` of ``max_attempts`` (pure but for
    the jitter of the backoff)."""
    if outcome.kind == "succeeded":
        return Step("succeed")
    if outcome.kind == "cancelled":
        return Step("cancel", message=outcome.message)
    if outcome.kind == "handed_back":
        return Step("hand_back")
    if not outcome.retryable:
        message = outcome.message or "The processor failed unexpectedly."
        return Step("fail", outcome.code or "processor_crashed", message[:1000])
    cause = (outcome.code or "retrying", (outcome.message or "retry requested")[:500])
    if not policy.allows_another(attempts, max_attempts):
        message = exhausted_message(attempts, *cause)[:1000]
        return Step("fail", EXHAUSTED, message, last_error=cause)
    # Back in the queue with a not-before time; the delay a processor asks for wins.
    delay = policy.backoff(attempts) if outcome.delay is None else outcome.delay
    return Step("requeue", *cause, delay=_clamp(delay))


def _clamp(delay: float) -> float:
    return min(max(0.0, float(delay)), MAX_RETRY_DELAY_S)


def _policy(rt: Runtime, row: dict[str, Any]) -> RetryPolicy:
    """The processor's own retry policy, else the worker's."""
    processor = rt.processors.get(row["processor"])
    own = processor.retry if processor is not None else None
    return own or rt.settings.retry_policy


def artifact_prefix(row: dict[str, Any]) -> str:
    """``users/<owner>/tasks/<id>/artifacts/``: everything the task may have written."""
    return artifact_key(row["owner_id"], row["id"], "x")[:-1]


def _delete_artifacts(rt: Runtime, row: dict[str, Any]) -> None:
    try:
        removed = rt.storage.delete_prefix(artifact_prefix(row))
        if removed:
            log.info("deleted %d partial artifact(s)", removed)
    except Exception as exc:
        # Orphans cost storage, not correctness; the lifecycle rules or an admin clean up.
        log.warning("could not delete partial artifacts: %s", type(exc).__name__)


def _requeue(
    rt: Runtime, row: dict[str, Any], delay: float, error: Any, handback: bool
) -> dict[str, Any] | None:
    """``running → queued``; with no delay the job goes straight back on its stream.

    The partial artifacts go first, while the task is provably still ours (the lease was
    just extended): once queued, the next attempt may be writing under the same prefix.
    """
    if taskstore.extend_lease(rt.db, row["id"], rt.worker_id, rt.settings.worker_lease_seconds):
        _delete_artifacts(rt, row)
    new = taskstore.requeue(
        rt.db, row["id"], rt.worker_id, delay_s=delay, error=error, refund_attempt=handback
    )
    if new is not None and delay <= 0:
        # XADD before our ACK: a crash in between leaves two entries (harmless), never none.
        # A delayed retry is sent by the relay once next_attempt_at has come.
        try:
            jobs.send_job(rt.db, rt.redis, new, max_dispatched=rt.settings.max_dispatched_per_user)
        except (redis.RedisError, Unavailable) as exc:
            log.warning("re-enqueue failed (%s); the relay will send it", type(exc).__name__)
    return new


def _write(rt: Runtime, row: dict[str, Any], step: Step, outcome: Outcome) -> Any:
    """Apply ``step``; the new row, or None when the task is no longer ours."""
    name, task_id, wid = row["processor"], row["id"], rt.worker_id
    if step.action == "succeed":
        new = taskstore.mark_succeeded(rt.db, task_id, wid, outcome.result, outcome.artifacts)
        if new is not None:
            metrics.JOBS_SUCCEEDED.labels(name).inc()
            return new
        # A cancel accepted while the job finished: it ends cancelled, never succeeded.
        step = Step("cancel")
    if step.action == "cancel":
        # State first, clean-up second: the cancel is what the client waits for (≤ 250 ms),
        # and deleting only after our guarded transition never touches a new holder's files.
        new = taskstore.mark_cancelled(rt.db, task_id, wid, reason=step.message)
        if new is not None:
            metrics.JOBS_CANCELLED.labels(name).inc()
            _delete_artifacts(rt, row)
        return new
    if step.action == "hand_back":
        new = _requeue(rt, row, 0.0, None, handback=True)
        if new is not None:
            metrics.JOBS_REQUEUED.labels(name, "shutdown").inc()
        return new
    if step.action == "requeue":
        error = {"code": step.code, "message": step.message}
        new = _requeue(rt, row, step.delay, error, handback=False)
        if new is not None:
            metrics.JOBS_REQUEUED.labels(name, "retry").inc()
        return new
    code = step.code or "processor_crashed"
    new = taskstore.mark_failed(
        rt.db, task_id, wid, code, step.message or "", attempt_error=step.last_error
    )
    if new is not None:
        metrics.JOBS_FAILED.labels(name, code).inc()
        _delete_artifacts(rt, row)  # after: a task failed by us is ours to clean
    return new


def _sent_again(step: Step) -> bool:
    """Whether ``_requeue`` already put the job back through its owner's admission
    (``jobs.send_job``), which filled the slot it left: a release would only repeat it."""
    return step.action == "hand_back" or (step.action == "requeue" and step.delay <= 0)


def _release_slot(rt: Runtime, row: dict[str, Any]) -> None:
    """The task left its slot of the owner's fair share: send their next held job (best
    effort: the sweeper sends it within a sweep otherwise)."""
    try:
        jobs.release_slot(
            rt.db, rt.redis, row["owner_id"], max_dispatched=rt.settings.max_dispatched_per_user
        )
    except (redis.RedisError, Unavailable) as exc:
        log.warning("could not send the owner's next job (%s)", type(exc).__name__)


LABELS = {"succeed": "succeeded", "cancel": "cancelled", "fail": "failed",
          "requeue": "retry", "hand_back": "handed_back"}  # fmt: skip


def finalise(
    rt: Runtime, delivery: Delivery, row: dict[str, Any], outcome: Outcome
) -> tuple[str, bool]:
    """Write the final state for ``outcome``; returns ``(label, acked)`` for logs/metrics."""
    step = decide(outcome, int(row["attempts"]), int(row["max_attempts"]), _policy(rt, row))
    new = _write(rt, row, step, outcome)
    if new is None:
        log.warning("task %s is no longer ours; leaving its message to its new holder", row["id"])
        metrics.LEASES_LOST.inc()
        return "lease_lost", False
    # The state is committed: its status event and the ACK go in one round trip.
    pipe = rt.redis.pipeline(transaction=True)
    events.queue_status(pipe, new)
    rt.consumer.queue_ack(pipe, delivery)
    pipe.execute()
    if not _sent_again(step):
        _release_slot(rt, new)
    # A success that met an accepted cancel was written as a cancel: label what happened.
    return "cancelled" if new["status"] == "cancelled" else LABELS[step.action], True
