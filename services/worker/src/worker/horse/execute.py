"""Work-horse side: run one job's processor and say how it ended (never raises).

Also the job's limits that are enforced from inside: the memory headroom (``RLIMIT_DATA``,
lifted again after the job) and the result check (JSON that PostgreSQL stores, within the
size limit). The wall-time limit is the worker's: it kills the horse.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import resource
from collections.abc import Callable, Iterator
from typing import Any

from backdrop_common.storage import ObjectNotFound, Storage
from botocore.exceptions import BotoCoreError, ClientError
from marshmallow import ValidationError

from worker.horse.context import CancelFlag, JobContext
from worker.processors.api import Cancelled, Processor, ProcessorError, Retry
from worker.processors.registry import load_processors
from worker.protocol import JobSpec, Outcome, Progress

log = logging.getLogger(__name__)

PROCESSORS: dict[str, Processor] = {}
"""Filled in the forkserver (``worker.horse.preload``), so horses start with them imported."""

# A NUL escape not itself escaped: jsonb refuses \u0000 in any string.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _processor(name: str) -> Processor:
    if name not in PROCESSORS:
        PROCESSORS.update(load_processors([name]))
    return PROCESSORS[name]


def _vm_data() -> int:
    """This process's data segment in bytes (what ``RLIMIT_DATA`` counts)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def memory_limit(headroom: int | None) -> Iterator[None]:
    """Cap the data segment at its current size + ``headroom`` for the duration of a job.

    Only the soft limit moves, so it can be lifted again for the next job. An allocation
    past it raises ``MemoryError`` in Python code and in C extensions that check malloc.
    """
    if headroom is None:
        yield
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = _vm_data() + headroom
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))


def check_result(result: Any, limit: int) -> Outcome:
    """``succeeded`` with ``result``, or a final failure if the task row could not hold it."""
    try:
        text = json.dumps(result, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        size = len(text.encode("utf-8"))  # a lone surrogate cannot be encoded (nor stored)
    except (TypeError, ValueError) as exc:
        return Outcome("failed", code="invalid_result", message=f"The result is not JSON: {exc}")
    if _NUL_ESCAPE.search(text):
        message = "The result contains a NUL character, which cannot be stored."
        return Outcome("failed", code="invalid_result", message=message)
    if size > limit:
        message = f"The result is {size} bytes of JSON; the limit is {limit}."
        return Outcome("failed", code="result_too_large", message=message)
    return Outcome("succeeded", result=result)


def _storage_outcome(exc: Exception) -> Outcome:
    """Storage trouble: a missing input is final, anything else is worth another attempt."""
    if isinstance(exc, ObjectNotFound):
        return Outcome("failed", code="input_missing", message="The input file is missing.")
    log.warning("storage error while running the job: %s", type(exc).__name__)
    return Outcome("retry", message="storage unavailable")


def execute(
    spec: JobSpec, storage: Storage, cancel: CancelFlag, report: Callable[[Progress], None]
) -> Outcome:
    """Run the processor for ``spec`` within its limits and say how it ended."""
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
        with memory_limit(spec.limits.memory_bytes):
            reader = storage.open_read(spec.input_key)
            ctx = JobContext(spec, params, reader, storage, cancel, report)
            result = processor.run(ctx)
            artifacts = ctx.artifacts
    except Cancelled:
        return Outcome("cancelled")
    except ProcessorError as exc:
        return Outcome("failed", code=exc.code, message=exc.message)
    except Retry as exc:
        return Outcome("retry", delay=exc.delay, message=str(exc))
    except (BotoCoreError, ClientError, ObjectNotFound) as exc:
        return _storage_outcome(exc)
    except MemoryError:
        mib = (spec.limits.memory_bytes or 0) >> 20
        message = f"The processor needed more than its {mib} MiB memory limit."
        return Outcome("failed", code="memory_limit_exceeded", message=message)
    except Exception:
        # The traceback goes to the log only; the task row gets the generic error.
        log.exception("processor %s crashed", spec.processor)
        return Outcome.crashed()
    finally:
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.close()
    checked = check_result(result, spec.limits.result_bytes)
    if checked.kind == "succeeded":
        return Outcome("succeeded", result=result, artifacts=artifacts)
    return checked
