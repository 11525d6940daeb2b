"""``gzip``: the input compressed as a ``.gz`` artifact, streamed chunk by chunk."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backdrop_common.processor_params import BUILTINS

from worker.processors.api import Processor, ProcessorContext
from worker.processors.streams import iter_chunks

_GZIP_WBITS = 16 + zlib.MAX_WBITS
"""zlib window bits that produce a gzip container (header and CRC trailer)."""


@dataclass
class _Tally:
    input_bytes: int = 0
    output_bytes: int = 0
    finished: bool = False


def artifact_name(filename: str) -> str:
    """``<basename>.gz``: directories and control characters of the client's name dropped."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(char for char in base if char.isprintable()).strip()
    if base in ("", ".", ".."):
        base = "input"
    return f"{base}.gz"


def _compress(ctx: ProcessorContext, level: int, tally: _Tally) -> Iterator[bytes]:
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    for chunk in iter_chunks(ctx, "compressing"):
        tally.input_bytes += len(chunk)
        compressed = compressor.compress(chunk)
        if compressed:
            tally.output_bytes += len(compressed)
            yield compressed
    tail = compressor.flush()
    tally.output_bytes += len(tail)
    tally.finished = True
    yield tail


def run(ctx: ProcessorContext) -> dict[str, Any]:
    """Compress the input into ``<filename>.gz``; ``ratio`` is output/input (null if empty)."""
    tally = _Tally()
    name = artifact_name(ctx.filename)
    ctx.write_artifact(name, _compress(ctx, ctx.params["level"], tally), "application/gzip")
    if not tally.finished:
        raise RuntimeError(f"write_artifact stopped before the end of {name}")
    ctx.check_cancelled()
    ratio = round(tally.output_bytes / tally.input_bytes, 4) if tally.input_bytes else None
    return {
        "input_bytes": tally.input_bytes,
        "output_bytes": tally.output_bytes,
        "ratio": ratio,
    }


SPEC = BUILTINS["gzip"]
processor = Processor(SPEC.name, SPEC.description, SPEC.params_schema, run)
