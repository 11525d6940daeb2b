"""Worker side: watching a work horse run one job until it ends or must be stopped.

Relays the horse's progress, renews the task's lease (and keeps its message fresh), reacts
to cancellation, shutdown and the time limit, and kills the horse when it will not stop.
Returns the job's :class:`Outcome`, or None when the lease was lost (nothing may be written).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from backdrop_common import events, taskstore
from backdrop_common.errors import Unavailable

from worker.consumer import Delivery
from worker.horse_handle import Horse
from worker.progress import ProgressPublisher
from worker.protocol import Finished, JobSpec, Outcome, Progress
from worker.runtime import Runtime

log = logging.getLogger(__name__)

POLL_S = 0.05  # how often the loop looks at timers when the horse is quiet
CANCEL_POLL_S = 0.5  # fallback check of the cancel key (pub/sub may have missed it)
KILLED_AFTER_DEADLINE = "The processor did not stop in time and was killed."


class JobWatch:
    """One job on one horse; ``cancel`` and ``hand_back`` are set by other threads."""

    def __init__(self, rt: Runtime, delivery: Delivery, row: dict[str, Any]) -> None:
        self.rt = rt
        self.delivery = delivery
        self.row = row
        self.cancel = threading.Event()
        self.hand_back = threading.Event()
        self._running: tuple[Horse, int] | None = None  # read by the cancel listener

    def signal_cancel(self) -> None:
        """Tell the horse at once (called from the cancel listener's thread)."""
        self.cancel.set()
        running = self._running
        if running is not None:
            horse, seq = running
            horse.cancel(seq)

    def run(self) -> Outcome | None:
        """Run the job on a horse from the pool and return how it ended."""
        settings = self.rt.settings
        spec = JobSpec.from_row(self.row, settings.limits_for(self.row["processor"]))
        horse = self.rt.horses.acquire()
        try:
            seq = horse.start_job(spec)
        except (OSError, ValueError):
            horse.kill()
            self.rt.horses.release(horse)
            return Outcome.killed("the horse was gone before the job started")
        self._running = (horse, seq)
        try:
            return self._watch(horse, seq, spec)
        finally:
            self._running = None
            self.rt.horses.release(horse)

    def _watch(self, horse: Horse, seq: int, spec: JobSpec) -> Outcome | None:
        rt, settings, row = self.rt, self.rt.settings, self.row
        progress = ProgressPublisher(rt.redis, rt.db, row, rt.worker_id)
        now = time.monotonic()
        time_limit = now + spec.limits.time_s if spec.limits.time_s else float("inf")
        next_renewal = now + settings.lease_renew_interval
        next_cancel_poll = now + CANCEL_POLL_S
        cancel_deadline: float | None = None
        while True:
            finished: Finished | None = None
            for message in horse.receive(POLL_S):
                if isinstance(message, Finished) and message.seq == seq:
                    finished = message
                elif isinstance(message, Progress):
                    progress.update(message)
            if finished is not None:
                horse.rss = finished.rss
                # A cancelled or crashed job may have left threads or state behind.
                horse.broken |= finished.outcome.kind not in ("succeeded", "failed", "retry")
                if finished.outcome.kind != "succeeded":
                    progress.flush()  # the row keeps how far a failed job got
                return finished.outcome
            if horse.broken or not horse.alive():
                return self._died(horse)
            now = time.monotonic()
            progress.tick()
            if self.hand_back.is_set():
                horse.kill()
                return Outcome.handed_back()
            if self.cancel.is_set() and cancel_deadline is None:
                horse.cancel(seq)
                cancel_deadline = now + settings.worker_cancel_deadline_seconds
            if cancel_deadline is not None and now >= cancel_deadline:
                # Killing costs a new horse (milliseconds); waiting costs the user the cancel.
                horse.kill()
                return Outcome("cancelled", message=KILLED_AFTER_DEADLINE)
            if now >= time_limit:
                horse.kill()
                why = f"The job ran longer than its {spec.limits.time_s:g} s time limit."
                return Outcome("failed", code="time_limit_exceeded", message=why)
            if now >= next_cancel_poll:
                next_cancel_poll = now + CANCEL_POLL_S
                if not self.cancel.is_set() and events.cancel_signalled(rt.redis, str(row["id"])):
                    self.signal_cancel()
            if now >= next_renewal:
                next_renewal = now + settings.lease_renew_interval
                if not self._renew_lease():
                    log.warning("lease lost; abandoning the job without finalising it")
                    horse.kill()
                    return None

    def _died(self, horse: Horse) -> Outcome:
        """The horse exited without finishing the job: killed (OOM, SIGKILL) or exited."""
        horse.process.join(1.0)  # it may still be on its way out
        signal_name, code = horse.exit_signal(), horse.process.exitcode
        horse.kill()  # reap it if not, and never give it another job
        if self.cancel.is_set():
            return Outcome("cancelled")
        log.error("work horse died (%s)", signal_name or f"exit code {code}")
        if signal_name is not None:
            return Outcome.killed(signal_name)
        return Outcome.crashed()

    def _renew_lease(self) -> bool:
        """Extend the lease, touch the message, learn of a cancel; False when the lease is lost."""
        try:
            row = taskstore.extend_lease(
                self.rt.db, self.row["id"], self.rt.worker_id, self.rt.settings.worker_lease_seconds
            )
        except Unavailable:
            # A database blip is not a lost lease; if it lasts, the lease lapses and the
            # next successful renewal reports it.
            log.warning("lease renewal failed: database unavailable")
            return True
        if row is None:
            return False
        if row["cancel_requested"] and not self.cancel.is_set():
            # The Redis signal was lost (pub/sub cut, key gone); PostgreSQL still knows.
            log.info("cancel learnt from the task row")
            self.signal_cancel()
        try:
            self.rt.consumer.touch(self.delivery)
        except Exception as exc:
            log.warning("could not refresh the job message: %s", type(exc).__name__)
        return True
