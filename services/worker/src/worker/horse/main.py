"""Work-horse side: the life of a work horse, one job after another until told to stop.

A horse is started by the worker (``worker.horse_handle``), keeps one storage client for its
whole life, and runs the jobs it is sent one at a time. It holds no database or Redis
connection: the worker (``worker.supervisor``) owns every state transition, so killing a
horse at any moment leaves nothing half-written but artifacts, which the worker deletes.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from backdrop_common.logs import configure_logging, task_id_var
from backdrop_common.storage import Storage
from backdrop_common.tracing import flush_spans, init_tracing, span

from worker.horse import execute as execute_mod
from worker.processors.registry import load_processors
from worker.protocol import Finished, JobSpec
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PAGE = os.sysconf("SC_PAGE_SIZE")

PRELOAD_ENV = "BACKDROP_WORKER_PRELOAD"
"""Comma-separated processors the forkserver imports (set by the worker before starting it)."""
MAIN_PATH_ENV = "BACKDROP_WORKER_MAIN_PATH"
"""The worker's main script, run once in the forkserver (see ``worker.horse.preload``)."""


def warm_up() -> None:
    """Import the served processors (and boto3's S3 model) once, before horses are forked."""
    names = [n for n in os.environ.get(PRELOAD_ENV, "").split(",") if n] or None
    with contextlib.suppress(Exception):  # a broken plugin must fail its jobs, not the worker
        execute_mod.PROCESSORS.update(load_processors(names))
    with contextlib.suppress(Exception):
        import boto3

        # Creating a client loads and caches the S3 service model in the default session;
        # no connection is opened, so the forked horses inherit only the parsed model.
        boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id="warm-up",
            aws_secret_access_key="warm-up",  # noqa: S106 - never used to sign anything
        )
    # Move everything imported so far out of the collector's reach: otherwise the first
    # collection in each forked horse walks (and so copies) every page of it.
    gc.freeze()


def _die_with_parent() -> None:
    """Exit when the worker is gone, so an orphan never writes artifacts for a reclaimed task."""
    parent = os.getppid()  # the forkserver, which itself exits when the worker dies
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(70)
            time.sleep(0.5)

    if os.getppid() != parent:
        os._exit(70)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


class JobCancel:
    """The cancel flag of job ``seq``: set when the worker writes ``seq`` into the shared cell.

    One cell serves every job of the horse; a cancel meant for an earlier job (it may arrive
    late) names another number and so cannot stop this one.
    """

    def __init__(self, cell: Any, seq: int) -> None:
        self._cell = cell
        self._seq = seq

    def is_set(self) -> bool:
        """True once this job was cancelled."""
        return bool(self._cell.value == self._seq)


def horse_main(conn: Connection, cancel_cell: Any, settings: WorkerSettings) -> None:
    """Horse entry point: run each :class:`JobSpec` received on ``conn``; ``None`` = exit."""
    _die_with_parent()
    # Ctrl-C in a terminal signals the whole process group; the worker decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging("worker", settings.log_level)
    init_tracing("worker")  # after the fork: the span exporter's thread must be this process's
    storage = Storage(settings)

    def send(message: object) -> None:
        try:
            conn.send(message)
        except (BrokenPipeError, EOFError, OSError):
            os._exit(70)  # the worker is gone

    while True:
        try:
            spec: JobSpec | None = conn.recv()
        except (EOFError, OSError):
            return
        if spec is None:
            return
        token = task_id_var.set(spec.task_id)
        # Progress messages go straight to the pipe (the context throttles them).
        with span("task process", spec.traceparent, {"backdrop.task_id": spec.task_id}):
            outcome = execute_mod.execute(spec, storage, JobCancel(cancel_cell, spec.seq), send)
        send(Finished(spec.seq, outcome, rss_bytes()))
        task_id_var.reset(token)
        flush_spans()  # a horse ends by os._exit (no atexit), so export the job's spans now
