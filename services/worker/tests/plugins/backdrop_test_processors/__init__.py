"""Processors that misbehave on purpose, published through ``backdrop.processors`` by the
``backdrop_test_processors-0.1.dist-info`` next to this package (put this directory on
``PYTHONPATH`` and workers find them like any third-party plugin)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from marshmallow import Schema, fields
from worker.processors.api import Processor, ProcessorContext, ProcessorError, Retry


class SleepParams(Schema):
    """How long to run, and whether to leave a partial artifact first."""

    seconds = fields.Float(load_default=5.0)
    partial = fields.Boolean(load_default=False)


def _partial(ctx: ProcessorContext) -> None:
    if ctx.params.get("partial"):
        ctx.write_artifact("partial.bin", [b"half-done"], "application/octet-stream")


def _sleepy(ctx: ProcessorContext) -> dict[str, Any]:
    """Cooperative: progress and a cancellation check every 10 ms."""
    _partial(ctx)
    steps = max(1, int(ctx.params["seconds"] / 0.01))
    for step in range(steps):
        ctx.check_cancelled()
        ctx.progress(step, steps, "sleeping")
        time.sleep(0.01)
    ctx.progress(steps, steps, "sleeping")
    return {"slept": ctx.params["seconds"], "pid": os.getpid()}


def _stuck(ctx: ProcessorContext) -> dict[str, Any]:
    """Blocks in one long call and never looks at cancellation."""
    _partial(ctx)
    ctx.progress(0, 1, "stuck")
    time.sleep(600)
    return {"woke": True}


def _crash(ctx: ProcessorContext) -> dict[str, Any]:
    raise RuntimeError("internal detail: password=hunter2 at /srv/secret.py")


def _fail(ctx: ProcessorContext) -> dict[str, Any]:
    raise ProcessorError("bad_input", "The input is not what this processor expects.")


class SegvParams(Schema):
    """``marker``: once this file exists (after the first attempt), survive."""

    marker = fields.String(load_default=None)


def _segv(ctx: ProcessorContext) -> dict[str, Any]:
    marker = ctx.params["marker"] and Path(ctx.params["marker"])
    if marker and marker.exists():
        return {"survived": True}
    if marker:
        marker.write_text("died once")
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(5)
    return {}


class HogParams(Schema):
    """Allocate ``mb`` MiB; ``leak``: keep it after the job (a leak, or fragmentation)."""

    mb = fields.Integer(load_default=64)
    leak = fields.Boolean(load_default=False)


_LEAKED: list[bytearray] = []


def _hog(ctx: ProcessorContext) -> dict[str, Any]:
    block = bytearray(ctx.params["mb"] << 20)
    block[::4096] = b"x" * len(range(0, len(block), 4096))  # touch every page: resident
    if ctx.params["leak"]:
        _LEAKED.append(block)
    return {"allocated": len(block), "pid": os.getpid()}


class ResultParams(Schema):
    """A result of ``size`` bytes of text, with a NUL character if ``nul``."""

    size = fields.Integer(load_default=10)
    nul = fields.Boolean(load_default=False)


def _result(ctx: ProcessorContext) -> dict[str, Any]:
    text = "x" * ctx.params["size"]
    return {"text": text + ("\x00" if ctx.params["nul"] else "")}


class FlakyParams(Schema):
    """``marker``: a file that exists after the first attempt; ``always``: never succeed."""

    marker = fields.String(required=True)
    always = fields.Boolean(load_default=False)


def _flaky(ctx: ProcessorContext) -> dict[str, Any]:
    marker = Path(ctx.params["marker"])
    attempts = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(attempts))
    if attempts == 1 or ctx.params["always"]:
        raise Retry(delay=0, message=f"transient trouble on attempt {attempts}")
    return {"attempt": attempts}


class NoParams(Schema):
    """No parameters."""


sleepy = Processor("sleepy", "Sleeps cooperatively.", SleepParams, _sleepy)
stuck = Processor("stuck", "Blocks, ignoring cancellation.", SleepParams, _stuck)
crash = Processor("crash", "Raises an unexpected exception.", NoParams, _crash)
fail = Processor("fail", "Raises ProcessorError.", NoParams, _fail)
segv = Processor("segv", "Dies of SIGSEGV.", SegvParams, _segv)
hog = Processor("hog", "Allocates memory.", HogParams, _hog)
result = Processor("result", "Returns a chosen result.", ResultParams, _result)
flaky = Processor("flaky", "Asks for a retry.", FlakyParams, _flaky)
