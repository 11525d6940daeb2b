"""Worker side: one job, from its stream message to its final state, supervised by a thread.

The thread claims the task, has a work horse run it (``worker.watch``), and hands the
outcome to ``worker.outcomes``. All database and Redis writes happen in the worker, so a
horse killed at any instant cannot leave a half-written state behind.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from backdrop_common import events, taskstore, tracing
from backdrop_common.errors import Unavailable
from backdrop_common.logs import task_id_var

from worker import metrics
from worker.consumer import Delivery
from worker.outcomes import finalise
from worker.protocol import Outcome
from worker.runtime import Runtime
from worker.watch import JobWatch

log = logging.getLogger(__name__)

FINALISE_TRIES = 5  # over ~15 s: the work is done, ride out a short database outage


class JobSupervisor(threading.Thread):
    """Runs the job of one ``Delivery`` to completion."""

    def __init__(self, rt: Runtime, delivery: Delivery) -> None:
        super().__init__(name=f"job-{delivery.message_id}", daemon=True)
        self.rt = rt
        self.delivery = delivery
        self._cancel = threading.Event()  # before the watch exists
        self._hand_back = threading.Event()
        self._watch: JobWatch | None = None
        # Set as the thread's last act: the consumer loop counts slots by it, not by
        # is_alive(), which can stay true for a moment after the slot was announced free
        # (the loop then waited up to 0.5 s with a slot idle).
        self.done = threading.Event()

    # -- signals from other threads ---------------------------------------------------------
    def request_cancel(self) -> None:
        """The task was cancelled: tell the horse at once."""
        self._cancel.set()
        watch = self._watch
        if watch is not None:
            watch.signal_cancel()

    def hand_back(self) -> None:
        """Shutdown grace is over: stop the job and put the task back on the queue."""
        self._hand_back.set()
        watch = self._watch
        if watch is not None:
            watch.hand_back.set()

    # -- the thread --------------------------------------------------------------------------
    def run(self) -> None:
        """Claim and run the job; a bug here leaves the message pending for redelivery."""
        task_id = self.delivery.task_id
        token = task_id_var.set(task_id)
        try:
            if task_id:
                # Registered before the claim, so a cancel published from now on reaches us
                # (one sent earlier is in the claimed row's cancel_requested).
                self.rt.running.add(task_id, self)
            attributes = {"backdrop.task_id": task_id or ""}
            with tracing.span("task run", self.delivery.traceparent, attributes) as span:
                span.set_attribute("backdrop.outcome", self._run())
        except Exception:
            log.exception("job supervision failed; the message stays pending for redelivery")
        finally:
            if task_id:
                self.rt.running.remove(task_id, self)
            task_id_var.reset(token)
            self.done.set()
            self.rt.on_change()

    def _run(self) -> str:
        """Run the job; returns what became of it (for the trace)."""
        rt, delivery = self.rt, self.delivery
        if not delivery.task_id:
            log.warning("malformed job message %s; dropping it", delivery.message_id)
            rt.consumer.ack(delivery)
            return "malformed"
        row = taskstore.claim(
            rt.db, delivery.task_id, rt.worker_id, rt.settings.worker_lease_seconds
        )
        if row is None:
            self._skip(delivery.task_id)
            return "skipped"
        rt.on_change()
        refusal = self._refusal(row)
        if refusal is not None:
            label, _ = finalise(rt, delivery, row, refusal)
            return label
        if row["cancel_requested"]:
            self._cancel.set()
        if int(row["attempts"]) > 1:
            # A new attempt starts from zero: drop the cached progress of the last one.
            events.clear_progress(rt.redis, row["id"])
        events.publish_status(rt.redis, row)
        metrics.JOBS_STARTED.labels(row["processor"]).inc()
        times = (row.get("queued_at"), row.get("next_attempt_at"))
        due = max((t for t in times if t is not None), default=row["started_at"])
        metrics.QUEUE_WAIT_SECONDS.labels(row["processor"]).observe(
            max(0.0, (row["started_at"] - due).total_seconds())
        )
        metrics.JOBS_RUNNING.inc()
        started = time.monotonic()
        try:
            outcome = self._run_on_horse(row)
            label = "lease_lost"
            if outcome is not None:
                label = self._finalise(row, outcome)
        finally:
            metrics.JOBS_RUNNING.dec()
        elapsed = time.monotonic() - started
        metrics.JOB_SECONDS.labels(row["processor"], label).observe(elapsed)
        log.info(
            "job %s: %s in %.3f s",
            row["id"],
            label,
            elapsed,
            extra={"processor": row["processor"], "attempt": row["attempts"]},
        )
        return label

    def _refusal(self, row: dict[str, Any]) -> Outcome | None:
        """A claimed job that must not run here, as the failure to record; else None."""
        if int(row["attempts"]) > int(row["max_attempts"]):
            # A job whose worker keeps dying under it (OOM, SIGKILL) is reclaimed with one
            # more attempt each time; past the limit it is a poison job and must not loop.
            return Outcome(
                "failed",
                code="retries_exhausted",
                message="The task was interrupted on every attempt.",
            )
        if row["processor"] not in self.rt.processors:
            # Sent to a stream we serve but naming another processor: nobody can run it here.
            return Outcome(
                "failed", code="unknown_processor", message="No worker serves this processor."
            )
        return None

    def _run_on_horse(self, row: dict[str, Any]) -> Outcome | None:
        watch = JobWatch(self.rt, self.delivery, row)
        self._watch = watch
        # Signals that came before the watch existed.
        if self._cancel.is_set():
            watch.cancel.set()
        if self._hand_back.is_set():
            watch.hand_back.set()
        try:
            outcome = watch.run()
        finally:
            self._watch = None
        cancelled = self._cancel.is_set() or watch.cancel.is_set()
        if outcome is not None and cancelled and outcome.kind not in ("failed", "cancelled"):
            # The user's cancel wins over a late success, a retry or a dead horse.
            outcome = Outcome("cancelled")
        return outcome

    def _skip(self, task_id: str) -> None:
        """Claim matched nothing: ACK, unless the task still runs elsewhere (see below)."""
        row = taskstore.get_task(self.rt.db, task_id)
        if row is not None and row["status"] == "running":
            # Its holder may depend on this very message (it was reclaimed from it while its
            # lease looked alive); ACKing could lose the job if that holder then dies.
            # Left pending, it is looked at again after the reclaim idle time.
            log.info("task %s runs on %s; leaving message pending", row["id"], row["worker_id"])
            return
        self.rt.consumer.ack(self.delivery)

    def _finalise(self, row: dict[str, Any], outcome: Outcome) -> str:
        """Write the outcome, riding out a short database outage (the work is done)."""
        for attempt in range(FINALISE_TRIES):
            try:
                label, _ = finalise(self.rt, self.delivery, row, outcome)
                return label
            except Unavailable:
                if attempt == FINALISE_TRIES - 1:
                    raise
                log.warning("database unavailable while finishing the job; retrying")
                time.sleep(min(2.0**attempt, 5.0))
        raise AssertionError("unreachable")
