"""``checksum``: hex digests of the input, computed in one streaming pass."""

from __future__ import annotations

import hashlib
from typing import Any

from marshmallow import Schema, fields, validate

from worker.processors.api import Processor, ProcessorContext
from worker.processors.streams import iter_chunks

ALGORITHMS = ("sha256", "sha1", "md5", "blake2b")


class ChecksumParams(Schema):
    """Parameters of ``checksum``."""

    algorithms = fields.List(
        fields.String(validate=validate.OneOf(ALGORITHMS)),
        load_default=lambda: ["sha256"],
        validate=validate.Length(min=1, max=len(ALGORITHMS)),
        metadata={"description": "Digests to compute; sha256 is always included."},
    )


def run(ctx: ProcessorContext) -> dict[str, Any]:
    """Hash the input with every requested algorithm; ``sha256`` is always part of the result."""
    names = ["sha256", *(name for name in ctx.params["algorithms"] if name != "sha256")]
    hashers = {name: hashlib.new(name) for name in dict.fromkeys(names)}
    total = 0
    for chunk in iter_chunks(ctx, "hashing"):
        total += len(chunk)
        for hasher in hashers.values():
            hasher.update(chunk)
    return {"bytes": total, **{name: hasher.hexdigest() for name, hasher in hashers.items()}}


processor = Processor(
    name="checksum",
    description="Checksums of the file (sha256 and optionally sha1, md5, blake2b).",
    params_schema=ChecksumParams,
    run=run,
)
