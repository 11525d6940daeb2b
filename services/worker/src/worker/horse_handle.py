"""Worker side: the handle on a work horse (the child process that runs a job).

Starting, watching and killing it; the code that runs inside it is ``worker.horse``.

Why child processes at all: a processor stuck in a blocking call (a C extension, a hung
socket) cannot be interrupted from another thread, only killed, and killing must not take
the worker with it. Why ``forkserver``: the worker holds database/Redis connections and
threads, which a plain ``fork()`` would copy mid-flight; the forkserver is a clean,
single-threaded process started early that has already imported the processors
(``worker.horse.preload``), so each job still starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from multiprocessing import spawn
from multiprocessing.connection import wait
from multiprocessing.context import ForkServerContext
from typing import Any

from worker.horse.main import MAIN_PATH_ENV, PRELOAD_ENV, run_job
from worker.protocol import JobSpec, Outcome, Progress
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

_CTX: ForkServerContext = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["worker.horse.preload"])
TERM_GRACE = 0.5  # seconds between SIGTERM and SIGKILL when killing a child


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


class HorseHandle:
    """One running child: its process, the pipe it reports on, and its cancel flag."""

    def __init__(self, spec: JobSpec, settings: WorkerSettings) -> None:
        self._reader, writer = _CTX.Pipe(duplex=False)
        self.cancel_event = _CTX.Event()
        # daemon: if the worker itself exits abnormally, multiprocessing still reaps children.
        self.process = _CTX.Process(
            target=run_job,
            args=(spec, settings, writer, self.cancel_event),
            name=f"job-{spec.task_id}",
            daemon=True,
        )
        self.process.start()
        writer.close()  # only the child writes; our copy would hide its EOF
        self._eof = False

    @property
    def pid(self) -> int | None:
        """The child's pid."""
        return self.process.pid

    def alive(self) -> bool:
        """True while the child process runs."""
        return self.process.is_alive()

    def cancel(self) -> None:
        """Ask the processor to stop (``check_cancelled``/``progress`` raise ``Cancelled``)."""
        self.cancel_event.set()

    def receive(self, timeout: float) -> list[Progress | Outcome]:
        """Messages that arrive within ``timeout`` (returns early on the first, or on exit)."""
        if self._eof:
            wait([self.process.sentinel], timeout)
            return []
        ready = wait([self._reader, self.process.sentinel], timeout)
        messages: list[Progress | Outcome] = []
        if not ready:
            return messages
        # Drain what is buffered now; the child may have sent several messages and exited.
        while not self._eof and self._reader.poll():
            try:
                message: Any = self._reader.recv()
            except (EOFError, OSError):
                self._eof = True
                break
            if isinstance(message, Progress | Outcome):
                messages.append(message)
        return messages

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the child to exit; True when it has."""
        self.process.join(timeout)
        return not self.process.is_alive()

    def kill(self) -> None:
        """SIGTERM, then SIGKILL after a short grace; returns once the child is gone."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(TERM_GRACE)
        if self.process.is_alive():
            log.warning("job child %s ignored SIGTERM; killing it", self.process.pid)
            self.process.kill()
            self.process.join(5)

    def close(self) -> None:
        """Release the pipe and the process handle."""
        with contextlib.suppress(Exception):
            self._reader.close()
        with contextlib.suppress(Exception):
            if not self.process.is_alive():
                self.process.close()

    def exitcode(self) -> int | None:
        """The child's exit code (negative: killed by that signal)."""
        return self.process.exitcode
