"""``gate``: a processor whose outcome the test decides, loaded by the e2e stack's workers
(``scripts/stack.py`` puts ``tests-e2e/plugins`` on their ``PYTHONPATH``; the dist-info next
to this package publishes it through ``backdrop.processors`` like any third-party plugin).

The file named by ``params.path`` says what to do: ``open`` succeeds, ``wait`` asks for a
retry in ``params.wait_s`` seconds (the task shows ``queued`` meanwhile), anything else (or
no file) fails for good with ``gate_closed``: a failure an operator fixes, then retries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marshmallow import Schema, fields, validate
from worker.processors import Processor, ProcessorContext, ProcessorError, Retry


class GateParams(Schema):
    """Where the verdict is, and how long a ``wait`` delays the next attempt."""

    path = fields.String(required=True)
    wait_s = fields.Float(load_default=30.0, validate=validate.Range(min=0, max=300))


def _run(ctx: ProcessorContext) -> dict[str, Any]:
    verdict_file = Path(ctx.params["path"])
    verdict = verdict_file.read_text().strip() if verdict_file.exists() else "closed"
    if verdict == "open":
        return {"gate": "open", "bytes": len(ctx.input.read())}
    if verdict == "wait":
        raise Retry(delay=ctx.params["wait_s"], message="the gate asks to wait")
    raise ProcessorError("gate_closed", f"The gate is {verdict}.")


gate = Processor("gate", "Succeeds, waits or fails as a file says (e2e tests).", GateParams, _run)
