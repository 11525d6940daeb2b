"""Worker side: handles on work horses (the child processes that run jobs), and their pool.

The code that runs inside a horse is ``worker.horse``.

Why child processes at all: a processor stuck in a blocking call (a C extension, a hung
socket) cannot be interrupted from another thread, only killed, and killing must not take
the worker with it. Why long-lived ones: starting a process and a storage client per job
cost ~50 ms of CPU, far more than a small job itself; a horse runs one job at a time, job
after job, and is replaced when it was killed, after ``worker_horse_max_jobs`` jobs, or when
its memory grew past ``worker_horse_max_rss_mb`` (which returns what a greedy job took).
Why ``forkserver``: the worker holds database/Redis connections and threads, which a plain
``fork()`` would copy mid-flight; the forkserver is a clean, single-threaded process that
has already imported the processors (``worker.horse.preload``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import replace
from multiprocessing import spawn
from multiprocessing.connection import wait
from multiprocessing.context import ForkServerContext
from typing import Any

from worker.horse.main import MAIN_PATH_ENV, PRELOAD_ENV, horse_main
from worker.protocol import Finished, JobSpec, Progress
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

_CTX: ForkServerContext = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["worker.horse.preload"])


def _noop() -> None:
    """A job-less child: starting one waits until the forkserver has finished preloading."""


def start_forkserver(processors: list[str]) -> None:
    """Start and warm the forkserver now (it imports ``processors``), not on the first job."""
    # The forkserver is spawned with our environment; this is how it learns what to import.
    os.environ[PRELOAD_ENV] = ",".join(processors)
    main_path = spawn.get_preparation_data("forkserver").get("init_main_from_path")
    if main_path:
        os.environ[MAIN_PATH_ENV] = str(main_path)
    probe = _CTX.Process(target=_noop, name="forkserver-warm-up", daemon=True)
    probe.start()
    probe.join(60)


class Horse:
    """One work horse: its process, its pipe, its cancel cell and its job count."""

    def __init__(self, settings: WorkerSettings) -> None:
        self._conn, theirs = _CTX.Pipe(duplex=True)
        # One shared int: the number of the job to cancel (see ``horse.main.JobCancel``).
        self._cancel_cell: Any = _CTX.Value("q", 0, lock=False)
        # daemon: if the worker itself exits abnormally, multiprocessing still reaps it.
        self.process = _CTX.Process(
            target=horse_main, args=(theirs, self._cancel_cell, settings), name="horse", daemon=True
        )
        self.process.start()
        theirs.close()  # only the horse holds that end now; its death shows as EOF here
        self.jobs = 0  # jobs started
        self.rss = 0  # as of the last finished job
        self.broken = False  # killed or out of step: never given another job

    @property
    def pid(self) -> int | None:
        """The horse's pid."""
        return self.process.pid

    def alive(self) -> bool:
        """True while the horse process runs."""
        return self.process.is_alive()

    def start_job(self, spec: JobSpec) -> int:
        """Send a job; returns its number (what :meth:`cancel` and ``Finished.seq`` use)."""
        self.jobs += 1
        self._conn.send(replace(spec, seq=self.jobs))
        return self.jobs

    def cancel(self, seq: int) -> None:
        """Ask job ``seq`` to stop (``check_cancelled``/``progress`` raise ``Cancelled``)."""
        self._cancel_cell.value = seq

    def receive(self, timeout: float) -> list[Progress | Finished]:
        """Messages that arrive within ``timeout`` (returns early on the first, or on exit)."""
        ready = wait([self._conn, self.process.sentinel], timeout)
        messages: list[Progress | Finished] = []
        if not ready:
            return messages
        # Drain what is buffered now; the horse may have sent several messages, or died.
        while True:
            try:
                if not self._conn.poll():
                    break
                message: Any = self._conn.recv()
            except (EOFError, OSError):
                self.broken = True
                break
            if isinstance(message, Progress | Finished):
                messages.append(message)
        return messages

    def kill(self) -> None:
        """SIGKILL and reap: a horse holds nothing worth a graceful stop."""
        self.broken = True
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    def stop(self) -> None:
        """Ask an idle horse to exit; kill it if it does not within a second."""
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        self.process.join(1.0)
        self.kill()
        self.close()

    def exit_signal(self) -> str | None:
        """The signal that ended the horse (``SIGKILL``...), or None."""
        code = self.process.exitcode
        if code is None or code >= 0:
            return None
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
        return f"signal {-code}"

    def close(self) -> None:
        """Release the pipe and the process handle."""
        with contextlib.suppress(Exception):
            self._conn.close()
        with contextlib.suppress(Exception):
            self.process.close()


class HorsePool:
    """Idle horses waiting for a job; at most one job per horse at a time."""

    def __init__(self, settings: WorkerSettings, size: int) -> None:
        self.settings = settings
        self.size = size
        self._idle: list[Horse] = []
        self._lock = threading.Lock()
        self._closed = False
        self._max_rss = settings.worker_horse_max_rss_mb << 20

    def fill(self) -> None:
        """Start horses until ``size`` are idle, so jobs do not wait for one to start."""
        while True:
            with self._lock:
                if self._closed or len(self._idle) >= self.size:
                    return
            horse = Horse(self.settings)
            with self._lock:
                self._idle.append(horse)

    def acquire(self) -> Horse:
        """An idle live horse, or a new one."""
        with self._lock:
            while self._idle:
                horse = self._idle.pop()
                if horse.alive():
                    return horse
                horse.close()
        return Horse(self.settings)

    def release(self, horse: Horse) -> None:
        """Take a horse back after its job; retire it if it is spent, broken or too big."""
        spent = horse.jobs >= self.settings.worker_horse_max_jobs
        if horse.broken or spent or horse.rss > self._max_rss or not horse.alive():
            if horse.rss > self._max_rss:
                log.info("recycling a horse that grew to %d MiB", horse.rss >> 20)
            threading.Thread(target=self._replace, args=(horse,), name="horse-retire").start()
            return
        with self._lock:
            self._idle.append(horse)

    def _replace(self, horse: Horse) -> None:
        """Stop a retired horse and start its successor (off the job's path)."""
        horse.stop()
        try:
            self.fill()
        except OSError as exc:
            log.warning("could not start a horse (%s); the next job starts one", exc)

    def close(self) -> None:
        """Stop every idle horse."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for horse in idle:
            horse.stop()
