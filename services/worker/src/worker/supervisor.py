"""Worker side: one job, from its stream message to its final state, supervised by a thread.

The thread claims the task, starts the work horse (``worker.horse``) through its handle
(``worker.horse_handle``), relays its progress, renews the task's lease (and keeps the
message fresh), reacts to cancellation and shutdown, and finally
hands the outcome to ``worker.outcomes``. All database and Redis writes happen here, in
the parent, so a child killed at any instant cannot leave a half-written state behind.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from backdrop_common import events, taskstore
from backdrop_common.errors import Unavailable
from backdrop_common.logs import task_id_var

from worker import metrics
from worker.consumer import Delivery
from worker.horse_handle import HorseHandle
from worker.outcomes import finalise
from worker.progress import ProgressPublisher
from worker.protocol import JobSpec, Outcome, Progress
from worker.runtime import Runtime

log = logging.getLogger(__name__)

POLL_S = 0.05  # how often the supervision loop looks at timers when the child is quiet
CANCEL_POLL_S = 0.5  # fallback check of the cancel key (pub/sub may have missed it)
FINALISE_TRIES = 5  # over ~15 s, well inside the default 30 s lease
KILLED_AFTER_DEADLINE = "The processor did not stop in time and was killed."


class JobSupervisor(threading.Thread):
    """Runs the job of one ``Delivery`` to completion."""

    def __init__(self, rt: Runtime, delivery: Delivery) -> None:
        super().__init__(name=f"job-{delivery.message_id}", daemon=True)
        self.rt = rt
        self.delivery = delivery
        self._cancel = threading.Event()
        self._hand_back = threading.Event()
        self._child: HorseHandle | None = None

    # -- signals from other threads ---------------------------------------------------------
    def request_cancel(self) -> None:
        """The task was cancelled: tell the child at once."""
        self._cancel.set()
        child = self._child
        if child is not None:
            child.cancel()

    def hand_back(self) -> None:
        """Shutdown grace is over: stop the job and put the task back on the queue."""
        self._hand_back.set()

    # -- the thread --------------------------------------------------------------------------
    def run(self) -> None:
        """Claim and run the job; a bug here leaves the message pending for redelivery."""
        token = task_id_var.set(self.delivery.task_id)
        try:
            self._run()
        except Exception:
            log.exception("job supervision failed; the message stays pending for redelivery")
        finally:
            if self.delivery.task_id:
                self.rt.running.remove(self.delivery.task_id)
            self.rt.on_change()
            task_id_var.reset(token)

    def _run(self) -> None:
        rt, delivery = self.rt, self.delivery
        if not delivery.task_id:
            log.warning("malformed job message %s; dropping it", delivery.message_id)
            rt.consumer.ack(delivery)
            return
        row = taskstore.claim(
            rt.db, delivery.task_id, rt.worker_id, rt.settings.worker_lease_seconds
        )
        if row is None:
            self._skip(delivery.task_id)
            return
        task_id = str(row["id"])
        rt.running.add(task_id, self)
        rt.on_change()
        if int(row["attempts"]) > int(row["max_attempts"]):
            # A job whose worker keeps dying under it (OOM, SIGKILL) is reclaimed with one
            # more attempt each time; past the limit it is a poison job and must not loop.
            finalise(
                rt,
                delivery,
                row,
                Outcome(
                    "failed",
                    code="retries_exhausted",
                    message="The task was interrupted on every attempt.",
                ),
            )
            return
        if row["processor"] not in rt.processors:
            # Sent to a stream we serve but naming another processor: nobody can run it here.
            finalise(
                rt,
                delivery,
                row,
                Outcome(
                    "failed", code="unknown_processor", message="No worker serves this processor."
                ),
            )
            return
        # A cancel that arrived between claim and registration would otherwise be missed.
        if row.get("cancel_requested") or events.cancel_signalled(rt.redis, task_id):
            self._cancel.set()
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
            outcome = self._supervise(row)
            label = "lease_lost"
            if outcome is not None:
                label = self._finalise(row, outcome)
        finally:
            metrics.JOBS_RUNNING.dec()
        metrics.JOB_SECONDS.labels(row["processor"], label).observe(time.monotonic() - started)
        log.info(
            "job %s: %s in %.3f s",
            task_id,
            label,
            time.monotonic() - started,
            extra={"processor": row["processor"], "attempt": row["attempts"]},
        )

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

    def _supervise(self, row: dict[str, Any]) -> Outcome | None:
        """Run the child to its outcome; None when the lease was lost (do not finalise)."""
        rt, settings = self.rt, self.rt.settings
        progress = ProgressPublisher(rt.redis, rt.db, row, rt.worker_id)
        child = HorseHandle(JobSpec.from_row(row), settings)
        self._child = child
        if self._cancel.is_set():
            child.cancel()
        now = time.monotonic()
        next_renewal, next_cancel_poll = now + settings.lease_renew_interval, now + CANCEL_POLL_S
        cancel_deadline: float | None = None
        outcome: Outcome | None = None
        try:
            while outcome is None:
                for message in child.receive(POLL_S):
                    if isinstance(message, Progress):
                        progress.update(message)
                    else:
                        outcome = message
                if outcome is not None:
                    break
                if not child.alive():
                    # It may have sent its outcome just before exiting: read what is left.
                    last = [m for m in child.receive(0) if isinstance(m, Outcome)]
                    outcome = last[-1] if last else self._died(child)
                    break
                now = time.monotonic()
                progress.tick()
                if self._hand_back.is_set():
                    child.kill()
                    outcome = Outcome.handed_back()
                    break
                if self._cancel.is_set() and cancel_deadline is None:
                    child.cancel()
                    cancel_deadline = now + settings.worker_cancel_deadline_seconds
                if cancel_deadline is not None and now >= cancel_deadline:
                    log.warning(
                        "processor ignored the cancel for %.1f s; killing it",
                        settings.worker_cancel_deadline_seconds,
                    )
                    child.kill()
                    outcome = Outcome("cancelled", message=KILLED_AFTER_DEADLINE)
                    break
                if now >= next_cancel_poll:
                    next_cancel_poll = now + CANCEL_POLL_S
                    if not self._cancel.is_set() and events.cancel_signalled(
                        rt.redis, str(row["id"])
                    ):
                        self.request_cancel()
                if now >= next_renewal:
                    next_renewal = now + settings.lease_renew_interval
                    if not self._renew_lease(row):
                        log.warning("lease lost; abandoning the job without finalising it")
                        child.kill()
                        return None
            # Wait for the child to be gone before anything deletes its artifacts.
            if not child.join(1.0):
                child.kill()
            if outcome.kind not in ("cancelled", "handed_back"):
                progress.flush()
            return outcome
        finally:
            self._child = None
            child.close()

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

    def _died(self, child: HorseHandle) -> Outcome:
        """The child exited without an outcome: killed (OOM, segfault) or cancelled."""
        if self._cancel.is_set():
            return Outcome("cancelled")
        log.error("job process died with exit code %s", child.exitcode())
        return Outcome.crashed()

    def _renew_lease(self, row: dict[str, Any]) -> bool:
        """Extend the lease and keep the message fresh; False only when the lease is lost."""
        try:
            ok = (
                taskstore.extend_lease(
                    self.rt.db, row["id"], self.rt.worker_id, self.rt.settings.worker_lease_seconds
                )
                is not None
            )
        except Unavailable:
            # A database blip is not a lost lease; if it lasts, the lease lapses and the
            # next successful renewal reports it.
            log.warning("lease renewal failed: database unavailable")
            return True
        if ok:
            try:
                self.rt.consumer.touch(self.delivery)
            except Exception as exc:
                log.warning("could not refresh the job message: %s", type(exc).__name__)
        return ok
