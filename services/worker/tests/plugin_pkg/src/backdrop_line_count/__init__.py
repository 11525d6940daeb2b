"""``line-count``: an example third-party processor counting lines like ``wc -l``."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from worker.processors import Processor, ProcessorContext
from worker.processors.streams import iter_chunks


class LineCountParams(Schema):
    """Parameters of ``line-count``."""

    terminator = fields.String(
        load_default="\n",
        validate=validate.OneOf(["\n", "\r", "\x00"]),
        metadata={"description": "The byte that ends a line."},
    )


def run(ctx: ProcessorContext) -> dict[str, Any]:
    """Count line terminators in the input."""
    terminator = ctx.params["terminator"].encode()
    lines = sum(chunk.count(terminator) for chunk in iter_chunks(ctx, "counting"))
    return {"lines": lines}


processor = Processor(
    name="line-count",
    description="Number of lines in the file.",
    params_schema=LineCountParams,
    run=run,
)
