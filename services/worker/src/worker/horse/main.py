"""Work-horse side: stream the input, run the processor, report back to the worker.

It holds no database or Redis connection; storage is its only outside contact. The worker
(``worker.supervisor``) owns every state transition, so killing this process at any moment
leaves nothing half-written but artifacts, which the parent deletes.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from backdrop_common.logs import configure_logging, task_id_var
from backdrop_common.storage import ObjectNotFound, Storage
from botocore.exceptions import BotoCoreError, ClientError
from marshmallow import ValidationError

from worker.horse.context import CancelFlag, JobContext
from worker.processors.api import Cancelled, Processor, ProcessorError, Retry
from worker.processors.registry import load_processors
from worker.protocol import JobSpec, Outcome, Progress
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

# Filled by warm_up() in the forkserver so each forked child starts with processors imported.
_PROCESSORS: dict[str, Processor] = {}
_PR_SET_PDEATHSIG = 1


PRELOAD_ENV = "BACKDROP_WORKER_PRELOAD"
"""Comma-separated processors the forkserver imports (set by the worker before starting it)."""
MAIN_PATH_ENV = "BACKDROP_WORKER_MAIN_PATH"
"""The worker's main script, run once in the forkserver (see ``worker.horse.preload``)."""


def warm_up() -> None:
    """Import the served processors (and boto3's S3 model) once, before children are forked."""
    names = [n for n in os.environ.get(PRELOAD_ENV, "").split(",") if n] or None
    with contextlib.suppress(Exception):  # a broken plugin must fail its jobs, not the worker
        _PROCESSORS.update(load_processors(names))
    with contextlib.suppress(Exception):
        import boto3

        # Creating a client loads and caches the S3 service model in the default session;
        # no connection is opened, so the forked children inherit only the parsed model.
        boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id="warm-up",
            aws_secret_access_key="warm-up",  # noqa: S106 - never used to sign anything
        )
    # Move everything imported so far out of the collector's reach: otherwise the first
    # collection in each forked child walks (and so copies) every page of it, which made
    # a child's start several times slower.
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


def _processor(name: str) -> Processor:
    if name not in _PROCESSORS:
        _PROCESSORS.update(load_processors([name]))
    return _PROCESSORS[name]


def _storage_outcome(exc: Exception) -> Outcome:
    """Storage trouble: a missing input is final, anything else is worth another attempt."""
    if isinstance(exc, ObjectNotFound):
        return Outcome("failed", code="input_missing", message="The input file is missing.")
    log.warning("storage error while running the job: %s", type(exc).__name__)
    return Outcome("retry", message="storage unavailable")


def execute(spec: JobSpec, settings: WorkerSettings, cancel: CancelFlag, report: Any) -> Outcome:
    """Run the processor for ``spec`` and say how it ended (never raises)."""
    try:
        processor = _processor(spec.processor)
        params = processor.load_params(spec.params)
    except ValidationError as exc:
        return Outcome("failed", code="invalid_params", message=f"Invalid parameters: {exc}")
    except Exception:
        log.exception("could not load processor %s", spec.processor)
        return Outcome.crashed()
    reader: Any = None
    try:
        storage = Storage(settings)
        reader = storage.open_read(spec.input_key)
        ctx = JobContext(spec, params, reader, storage, cancel, report)
        result = processor.run(ctx)
        json.dumps(result)  # a result the task row cannot store is the processor's bug
        return Outcome("succeeded", result=result, artifacts=ctx.artifacts)
    except Cancelled:
        return Outcome("cancelled")
    except ProcessorError as exc:
        return Outcome("failed", code=exc.code, message=exc.message)
    except Retry as exc:
        return Outcome("retry", delay=exc.delay, message=str(exc))
    except (BotoCoreError, ClientError, ObjectNotFound) as exc:
        return _storage_outcome(exc)
    except Exception:
        # The traceback goes to the log only; the task row gets the generic error.
        log.exception("processor %s crashed", spec.processor)
        return Outcome.crashed()
    finally:
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.close()


def run_job(spec: JobSpec, settings: WorkerSettings, conn: Connection, cancel: CancelFlag) -> None:
    """Child-process entry point: run the job, send progress and one outcome on ``conn``."""
    _die_with_parent()
    # Ctrl-C in a terminal signals the whole process group; the worker decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging("worker", settings.log_level)
    task_id_var.set(spec.task_id)

    def report(progress: Progress) -> None:
        try:
            conn.send(progress)
        except (BrokenPipeError, EOFError, OSError):
            os._exit(70)  # the worker is gone

    outcome = execute(spec, settings, cancel, report)
    with contextlib.suppress(BrokenPipeError, EOFError, OSError):
        conn.send(outcome)
    conn.close()
