"""The shared pieces every job runner uses, bundled so they are passed around as one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis
from backdrop_common.db import Database
from backdrop_common.storage import Storage

from worker.consumer import StreamConsumer
from worker.processors.api import Processor
from worker.settings import WorkerSettings

if TYPE_CHECKING:
    from worker.job_runner import JobRunner


class RunningJobs:
    """Task id → runner of the jobs in flight (the cancel listener looks runners up here)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRunner] = {}

    def add(self, task_id: str, runner: JobRunner) -> None:
        """Register a runner once its task is claimed."""
        with self._lock:
            self._jobs[task_id] = runner

    def remove(self, task_id: str) -> None:
        """Forget a finished runner."""
        with self._lock:
            self._jobs.pop(task_id, None)

    def get(self, task_id: str) -> JobRunner | None:
        """The runner of ``task_id``, if it runs here."""
        with self._lock:
            return self._jobs.get(task_id)

    def task_ids(self) -> list[str]:
        """Ids of the tasks running here."""
        with self._lock:
            return list(self._jobs)


@dataclass
class Runtime:
    """Connections, settings and bookkeeping shared by the consumer loop and job runners."""

    settings: WorkerSettings
    db: Database
    redis: redis.Redis
    storage: Storage
    consumer: StreamConsumer
    processors: dict[str, Processor]
    worker_id: str
    running: RunningJobs = field(default_factory=RunningJobs)
    on_change: Callable[[], None] = lambda: None  # a job started or ended
