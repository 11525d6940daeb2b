"""Generated request bodies: one random block repeated, never held whole in memory."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

MiB = 1024 * 1024


def pattern_block(size: int = MiB) -> bytes:
    """Random filler; the generated bodies repeat this one block (nothing big is held)."""
    return os.urandom(size)


def chunk_generator(total: int, block: bytes) -> Iterator[bytes]:
    """Yield ``total`` bytes as chunks of ``len(block)`` (the last one shorter)."""
    sent = 0
    view = memoryview(block)
    while sent < total:
        n = min(len(block), total - sent)
        yield bytes(view[:n]) if n < len(block) else block
        sent += n


def generator_file(chunks: Iterator[bytes]) -> io.BufferedReader:
    """The chunks as a buffered file whose ``read(n)`` returns full ``n`` bytes until the end
    (boto3 cuts a non-seekable stream into parts with single reads)."""
    return io.BufferedReader(GeneratorFile(chunks), buffer_size=MiB)


class GeneratorFile(io.RawIOBase):
    """A read-only, non-seekable raw file over a generator of chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        """It is."""
        return True

    def readinto(self, target: Any) -> int:
        """Fill ``target`` from the buffered chunk or the next one; 0 at the end."""
        if not self._buffer:
            self._buffer = next(self._chunks, b"")
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n
