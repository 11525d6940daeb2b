"""The shared pieces every job supervisor uses, bundled so they are passed around as one.

Worker side only. ``RunningJobs`` holds jobs through the small :class:`JobControl` protocol
rather than the supervisor class, so this module (imported by ``worker.outcomes``) does not
import ``worker.supervisor`` back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis
from backdrop_common.db import Database
from backdrop_common.storage import Storage

from worker.consumer import StreamConsumer
from worker.horse_handle import HorsePool
from worker.processors.api import Processor
from worker.settings import WorkerSettings


class JobControl(Protocol):
    """What other threads may ask of a running job (the supervisor implements it)."""

    def request_cancel(self) -> None:
        """The task was cancelled: stop the processor."""
        ...

    def hand_back(self) -> None:
        """Shutdown grace is over: stop the job and put the task back on the queue."""
        ...


class RunningJobs:
    """Task id → control of the jobs in flight (the cancel listener looks jobs up here)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobControl] = {}

    def add(self, task_id: str, job: JobControl) -> None:
        """Register a job (a duplicate delivery of a task already here does not replace it)."""
        with self._lock:
            self._jobs.setdefault(task_id, job)

    def remove(self, task_id: str, job: JobControl) -> None:
        """Forget a finished job (not a duplicate delivery's job of the same task)."""
        with self._lock:
            if self._jobs.get(task_id) is job:
                del self._jobs[task_id]

    def get(self, task_id: str) -> JobControl | None:
        """The control of ``task_id``, if it runs here."""
        with self._lock:
            return self._jobs.get(task_id)

    def task_ids(self) -> list[str]:
        """Ids of the tasks running here."""
        with self._lock:
            return list(self._jobs)


@dataclass
class Runtime:
    """Connections, settings and bookkeeping shared by the consumer loop and job supervisors."""

    settings: WorkerSettings
    db: Database
    redis: redis.Redis
    storage: Storage
    consumer: StreamConsumer
    processors: dict[str, Processor]
    worker_id: str
    horses: HorsePool
    running: RunningJobs = field(default_factory=RunningJobs)
    on_change: Callable[[], None] = lambda: None  # a job started or ended
