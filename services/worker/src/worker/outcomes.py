"""Worker side: turning how a job ended into the task's final state, then ACKing its message.

Order matters: the state is written first and the message ACKed last, so a crash in
between leaves a pending message whose redelivery finds a finished task (claim → None →
ACK). Whenever a transition matches nothing, the task is no longer ours (the lease lapsed
and someone else took over): we then neither publish nor ACK, because the message may now
belong to that other worker.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from backdrop_common import events, streams, taskstore
from backdrop_common.errors import Unavailable
from backdrop_common.retries import EXHAUSTED, RetryPolicy, exhausted_message
from backdrop_common.storage import artifact_key

from worker import metrics
from worker.consumer import Delivery
from worker.protocol import Outcome
from worker.runtime import Runtime

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 24 * 3600.0


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


def _policy(rt: Runtime, processor: str) -> RetryPolicy:
    """The processor's own retry policy, else the worker's."""
    own = rt.processors[processor].retry if processor in rt.processors else None
    return own or rt.settings.retry_policy


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
            streams.send_job(rt.db, rt.redis, new)
        except (redis.RedisError, Unavailable) as exc:
            log.warning("re-enqueue failed (%s); the relay will send it", type(exc).__name__)
    return new


def finalise(
    rt: Runtime, delivery: Delivery, row: dict[str, Any], outcome: Outcome
) -> tuple[str, bool]:
    """Write the final state for ``outcome``; returns ``(label, acked)`` for logs/metrics."""
    name, task_id, wid = row["processor"], row["id"], rt.worker_id
    label: str = outcome.kind
    new: dict[str, Any] | None
    if outcome.kind == "succeeded":
        new = taskstore.mark_succeeded(rt.db, task_id, wid, outcome.result, outcome.artifacts)
        if new is not None:
            metrics.JOBS_SUCCEEDED.labels(name).inc()
    elif outcome.kind == "cancelled":
        # State first, clean-up second: the cancel is what the client waits for (≤ 250 ms),
        # a cancelled task never runs again, and its artifacts are never served anyway.
        # (Deleting only after our guarded transition also means never touching the files
        # of a worker that took the task over.)
        new = taskstore.mark_cancelled(rt.db, task_id, wid, reason=outcome.message)
        if new is not None:
            metrics.JOBS_CANCELLED.labels(name).inc()
            _delete_artifacts(rt, row)
    elif outcome.kind == "handed_back":
        new = _requeue(rt, row, 0.0, None, handback=True)
        if new is not None:
            metrics.JOBS_REQUEUED.labels(name, "shutdown").inc()
    elif outcome.kind == "retry" and _policy(rt, name).allows_another(
        int(row["attempts"]), int(row["max_attempts"])
    ):
        # Back in the queue with a not-before time; the delay a processor asks for wins.
        attempt = int(row["attempts"])
        delay = _policy(rt, name).backoff(attempt) if outcome.delay is None else outcome.delay
        delay = min(max(0.0, float(delay)), MAX_RETRY_DELAY_S)
        error = {"code": "retrying", "message": (outcome.message or "retry requested")[:500]}
        new = _requeue(rt, row, delay, error, handback=False)
        if new is not None:
            metrics.JOBS_REQUEUED.labels(name, "retry").inc()
    else:
        attempt_error = None
        if outcome.kind == "retry":
            cause = (outcome.code or "retrying", (outcome.message or "retry requested")[:500])
            code, attempt_error = EXHAUSTED, cause
            message = exhausted_message(int(row["attempts"]), *cause)
        else:
            code = outcome.code or "processor_crashed"
            message = outcome.message or "The processor failed unexpectedly."
        new = taskstore.mark_failed(
            rt.db, task_id, wid, code, message[:1000], attempt_error=attempt_error
        )
        label = "failed"
        if new is not None:
            metrics.JOBS_FAILED.labels(name, code).inc()
            _delete_artifacts(rt, row)  # after: a task failed by us is ours to clean
    if new is None:
        log.warning("task %s is no longer ours; leaving its message to its new holder", task_id)
        metrics.LEASES_LOST.inc()
        return "lease_lost", False
    events.publish_status(rt.redis, new)
    rt.consumer.ack(delivery)
    return label, True
