"""Processors of the fault suite, loaded by its workers (``scripts/stack.py`` puts
``tests-faults/plugins`` on their ``PYTHONPATH``; the dist-info next to this package
publishes them through ``backdrop.processors`` like any third-party plugin).

- ``fault-digest``: SHA-256 of the input, written as the artifact ``digest.txt`` and
  returned; takes ``hold_s`` seconds (cancellable, with progress) so faults hit running
  jobs; appends ``<tag> <time>`` to the ledger file after each completed run, so the suite
  can tell a task processed twice.
- ``fault-flaky``: asks for a retry (no delay of its own: the worker's backoff applies) on
  its first ``fail_times`` attempts, counted in ``<state_dir>/<tag>``, then succeeds; a file
  ``<state_dir>/<tag>.heal`` makes it succeed at once (the operator fixed the cause).
- ``fault-crash``: its process dies by SIGKILL on every attempt (a poison message).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from marshmallow import Schema, fields, validate
from worker.processors import Processor, ProcessorContext, Retry

CHUNK = 64 * 1024


class DigestParams(Schema):
    """Which ledger to write to, under which tag, and how long to hold the job."""

    tag = fields.String(required=True, validate=validate.Length(min=1, max=64))
    ledger = fields.String(required=True)
    hold_s = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=120))


class FlakyParams(Schema):
    """Where the attempt counter lives and how many attempts fail."""

    tag = fields.String(required=True, validate=validate.Length(min=1, max=64))
    state_dir = fields.String(required=True)
    fail_times = fields.Integer(load_default=2, validate=validate.Range(min=0))


class CrashParams(Schema):
    """Nothing to set: it always dies."""


def _digest(ctx: ProcessorContext) -> dict[str, Any]:
    sha = hashlib.sha256()
    read = 0
    while chunk := ctx.input.read(CHUNK):
        sha.update(chunk)
        read += len(chunk)
    hold = float(ctx.params["hold_s"])
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        left = deadline - time.monotonic()
        ctx.progress(int((hold - left) * 1000), int(hold * 1000) or 1, "holding")
        time.sleep(min(0.05, max(left, 0)))
    ctx.check_cancelled()
    digest = sha.hexdigest()
    ctx.write_artifact("digest.txt", [digest.encode()], "text/plain")
    # One short line per completed run (tag, wall-clock time); O_APPEND keeps concurrent
    # writers' lines whole.
    with open(ctx.params["ledger"], "a", encoding="ascii") as ledger:
        ledger.write(f"{ctx.params['tag']} {time.time():.3f}\n")
    return {"sha256": digest, "bytes": read}


def _flaky(ctx: ProcessorContext) -> dict[str, Any]:
    state = Path(ctx.params["state_dir"])
    counter = state / ctx.params["tag"]
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    healed = (state / f"{ctx.params['tag']}.heal").exists()
    if attempt <= int(ctx.params["fail_times"]) and not healed:
        raise Retry(message=f"flaky failure {attempt}")
    return {"attempt": attempt, "healed": healed}


def _crash(ctx: ProcessorContext) -> dict[str, Any]:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


digest = Processor("fault-digest", "SHA-256 with a ledger (fault suite).", DigestParams, _digest)
flaky = Processor("fault-flaky", "Fails N times, then succeeds (fault suite).", FlakyParams, _flaky)
crash = Processor("fault-crash", "Dies on every attempt (fault suite).", CrashParams, _crash)
