"""``checksum``: hex digests of the input, computed in one streaming pass."""

from __future__ import annotations

import hashlib
from typing import Any

from backdrop_common.processor_params import BUILTINS

from worker.processors.api import Processor, ProcessorContext
from worker.processors.streams import iter_chunks


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


SPEC = BUILTINS["checksum"]
processor = Processor(SPEC.name, SPEC.description, SPEC.params_schema, run)
