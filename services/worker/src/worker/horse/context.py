"""Work-horse side: the ``ProcessorContext`` a processor receives."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from backdrop_common.storage import artifact_key

from worker.processors.api import ArtifactSource, BinaryReader, Cancelled
from worker.processors.streams import iter_artifact
from worker.protocol import JobSpec, Progress


class CancelFlag(Protocol):
    """Anything with ``is_set()``: a ``multiprocessing.Event`` in production."""

    def is_set(self) -> bool:
        """True once cancellation was requested."""
        ...


class _ChunkReader:
    """A ``read(n)`` file object over an iterator of byte chunks, counting what it hands out."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        self.size += len(out)
        return out


class JobContext:
    """Implements ``worker.processors.api.ProcessorContext`` for one task."""

    def __init__(
        self,
        spec: JobSpec,
        params: Mapping[str, Any],
        reader: BinaryReader,
        storage: Any,
        cancel: CancelFlag,
        report: Callable[[Progress], None],
    ) -> None:
        self._spec = spec
        self._params = params
        self._reader = reader
        self._storage = storage
        self._cancel = cancel
        self._report = report
        self._last_sent = 0.0
        self.artifacts: list[dict[str, Any]] = []
        self._logger = logging.LoggerAdapter(
            logging.getLogger(f"backdrop.processor.{spec.processor}"), {"task": spec.task_id}
        )

    @property
    def input(self) -> BinaryReader:
        """The input object, streamed from storage."""
        return self._reader

    @property
    def size(self) -> int:
        """Declared input size in bytes."""
        return self._spec.size

    @property
    def filename(self) -> str:
        """Client-supplied file name."""
        return self._spec.filename

    @property
    def content_type(self) -> str:
        """Client-supplied content type."""
        return self._spec.content_type

    @property
    def params(self) -> Mapping[str, Any]:
        """Validated parameters with defaults filled."""
        return self._params

    @property
    def logger(self) -> logging.LoggerAdapter[Any]:
        """A logger for the processor (the task id is on every record via the context)."""
        return self._logger

    @property
    def cancelled(self) -> bool:
        """True once cancellation was requested."""
        return bool(self._cancel.is_set())

    def check_cancelled(self) -> None:
        """Raise ``Cancelled`` if the task has been cancelled."""
        if self._cancel.is_set():
            raise Cancelled()

    def progress(self, done: int, total: int, stage: str, message: str | None = None) -> None:
        """Report progress (throttled to ``spec.progress_interval``); also a cancel point."""
        self.check_cancelled()
        now = time.monotonic()
        finished = total > 0 and done >= total
        # Drop reports that come too fast, but never the one that says "done".
        if not finished and now - self._last_sent < self._spec.progress_interval:
            return
        self._last_sent = now
        fraction = min(1.0, max(0.0, done / total)) if total > 0 else 0.0
        self._report(Progress(round(fraction, 4), str(stage)[:100], message))

    def write_artifact(self, name: str, data: ArtifactSource, content_type: str) -> dict[str, Any]:
        """Stream ``data`` to storage under the task's artifact prefix."""
        self.check_cancelled()
        key = artifact_key(self._spec.owner_id, self._spec.task_id, name)
        safe = key.rsplit("/", 1)[1]
        reader = _ChunkReader(iter_artifact(data))
        self._storage.upload_fileobj(key, reader, content_type)
        doc = {"name": safe, "key": key, "size": reader.size, "content_type": content_type}
        # Writing the same name twice replaces the artifact rather than listing it twice.
        self.artifacts = [a for a in self.artifacts if a["name"] != safe] + [doc]
        return doc
