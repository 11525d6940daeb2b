"""A ``ProcessorContext`` over a local stream, artifacts in a directory: for tests and plugins."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from worker.processors.api import ArtifactSource, BinaryReader, Cancelled, Processor
from worker.processors.streams import iter_artifact


class ProgressCall(NamedTuple):
    """One recorded ``progress()`` call."""

    done: int
    total: int
    stage: str
    message: str | None


class LocalContext:
    """Runs a processor without the worker runtime: progress is recorded, not published.

    ``params`` are used as given; build them with ``Processor.load_params`` (or use
    :meth:`for_processor`) so defaults are filled as the runtime would.
    """

    def __init__(
        self,
        input: BinaryReader,
        size: int,
        artifacts_dir: Path,
        *,
        params: Mapping[str, Any] | None = None,
        filename: str = "input",
        content_type: str = "application/octet-stream",
        logger: logging.Logger | None = None,
    ) -> None:
        self.input = input
        self.size = size
        self.filename = filename
        self.content_type = content_type
        self.params: Mapping[str, Any] = dict(params or {})
        self.logger = logger or logging.getLogger(__name__)
        self.artifacts_dir = Path(artifacts_dir)
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.progress_calls: list[ProgressCall] = []
        self._cancelled = False

    @classmethod
    def for_processor(
        cls,
        processor: Processor,
        input: BinaryReader,
        size: int,
        artifacts_dir: Path,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> LocalContext:
        """A context whose params went through ``processor``'s schema (defaults filled).

        Unless a ``logger`` is given, it logs under the processor's own logger name, as it
        would in the worker runtime.
        """
        loaded = processor.load_params(params)
        kwargs.setdefault("logger", logging.getLogger(f"backdrop.processor.{processor.name}"))
        return cls(input, size, artifacts_dir, params=loaded, **kwargs)

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` has been called."""
        return self._cancelled

    def cancel(self) -> None:
        """Request cancellation; the processor sees it at its next check."""
        self._cancelled = True

    def check_cancelled(self) -> None:
        """Raise ``Cancelled`` if :meth:`cancel` has been called."""
        if self._cancelled:
            raise Cancelled("task cancelled")

    def progress(self, done: int, total: int, stage: str, message: str | None = None) -> None:
        """Record one progress report."""
        self.progress_calls.append(ProgressCall(done, total, stage, message))

    def write_artifact(self, name: str, data: ArtifactSource, content_type: str) -> dict[str, Any]:
        """Write ``data`` to ``artifacts_dir/name``; returns ``{name, size, ..., path}``."""
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"invalid artifact name {name!r}")
        path = self.artifacts_dir / name
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        size = 0
        with path.open("wb") as out:
            for chunk in iter_artifact(data):
                out.write(chunk)
                size += len(chunk)
        artifact = {"name": name, "size": size, "content_type": content_type, "path": str(path)}
        self.artifacts[name] = artifact
        return artifact
