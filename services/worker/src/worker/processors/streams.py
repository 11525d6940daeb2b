"""Streaming helpers shared by processors: chunked reads with progress and cancellation."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import cast

from worker.processors.api import ArtifactSource, BinaryReader, ProcessorContext

CHUNK_SIZE = 1 << 20
"""Bytes read from the input per step (1 MiB)."""


def read_chunk(ctx: ProcessorContext, size: int) -> bytes:
    """Read ``size`` bytes of the input, fewer only at its end, however short its reads are."""
    data = ctx.input.read(size)
    if len(data) in (0, size):
        return data
    parts = [data]
    missing = size - len(data)
    while missing > 0:
        ctx.check_cancelled()
        more = ctx.input.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def iter_chunks(
    ctx: ProcessorContext, stage: str, chunk_size: int | None = None
) -> Iterator[bytes]:
    """Yield the input in full chunks, checking cancellation before each, reporting progress after.

    Progress is ``(bytes read, declared size)`` and ends at ``done == size``; an empty input
    still reports ``(0, 0)`` once.
    """
    step = chunk_size or CHUNK_SIZE
    done = 0
    while True:
        ctx.check_cancelled()
        chunk = read_chunk(ctx, step)
        if not chunk:
            break
        done += len(chunk)
        ctx.progress(done, max(ctx.size, done), stage)
        yield chunk
    if done == 0:
        ctx.progress(0, ctx.size, stage)


class ProgressReader(io.RawIOBase):
    """A raw binary stream over ``ctx.input`` that checks cancellation and reports progress.

    Wrap it in ``io.BufferedReader`` (see :func:`open_buffered`) to hand the input to code
    that wants a real file object, such as ``io.TextIOWrapper`` or ``csv``.
    """

    def __init__(self, ctx: ProcessorContext, stage: str) -> None:
        super().__init__()
        self._ctx = ctx
        self._stage = stage
        self._done = 0
        self._reported = False

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        """Fill ``buffer`` with the next bytes of the input; 0 at the end."""
        self._ctx.check_cancelled()
        view = memoryview(buffer).cast("B")
        data = read_chunk(self._ctx, len(view))
        count = len(data)
        view[:count] = data
        self._done += count
        if count or not self._reported:
            self._ctx.progress(self._done, max(self._ctx.size, self._done), self._stage)
            self._reported = True
        return count


def open_buffered(ctx: ProcessorContext, stage: str) -> io.BufferedReader:
    """The input as a buffered binary file reading ``CHUNK_SIZE`` bytes at a time."""
    return io.BufferedReader(ProgressReader(ctx, stage), buffer_size=CHUNK_SIZE)


def iter_artifact(source: ArtifactSource, chunk_size: int | None = None) -> Iterator[bytes]:
    """Normalise an artifact source (file-like or iterable of chunks) to non-empty chunks."""
    if hasattr(source, "read"):
        reader = cast(BinaryReader, source)
        step = chunk_size or CHUNK_SIZE
        while chunk := reader.read(step):
            yield bytes(chunk)
        return
    for chunk in source:
        if chunk:
            yield bytes(chunk)
