"""The processor plugin API: what a processor receives, returns and raises.

A processor is a plain function ``run(ctx) -> dict`` wrapped in a :class:`Processor` and
published through the ``backdrop.processors`` entry-point group. Exceptions it may raise::

    ProcessorError   clean, user-facing failure: the task fails with {code, message}
    Retry            transient trouble: the runtime re-queues the task (after ``delay``)
    Cancelled        the task was cancelled; raised by ``ctx.check_cancelled()``
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from backdrop_common.retries import RetryPolicy
from backdrop_common.schema_instance import schema_instance
from marshmallow import Schema

__all__ = [
    "ArtifactSource",
    "BinaryReader",
    "Cancelled",
    "Processor",
    "ProcessorContext",
    "ProcessorError",
    "Retry",
]


class ProcessorError(Exception):
    """A clean, user-facing failure (e.g. code ``invalid_input``); never retried."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Retry(Exception):
    """Ask the runtime to re-queue the task, after ``delay`` seconds if given."""

    def __init__(self, delay: float | None = None, message: str = "retry requested") -> None:
        super().__init__(message)
        self.delay = delay


# BaseException, like asyncio.CancelledError: a processor's broad ``except Exception`` around a
# third-party call must not turn a cancellation into a failure.
class Cancelled(BaseException):
    """The task was cancelled; processors let it propagate."""


class BinaryReader(Protocol):
    """A streaming binary reader: ``read(n)`` returns at most ``n`` bytes, ``b""`` at the end."""

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes."""
        ...


ArtifactSource = BinaryReader | Iterable[bytes]
"""What ``write_artifact`` accepts: a binary file-like object or an iterable of byte chunks."""


class ProcessorContext(Protocol):
    """Everything a processor may use; the worker runtime (or ``LocalContext``) provides it."""

    @property
    def input(self) -> BinaryReader:
        """The input object, streamed; it may be far larger than memory."""
        ...

    @property
    def size(self) -> int:
        """Declared input size in bytes."""
        ...

    @property
    def filename(self) -> str:
        """Client-supplied file name (untrusted: use only its basename)."""
        ...

    @property
    def content_type(self) -> str:
        """Client-supplied content type."""
        ...

    @property
    def params(self) -> Mapping[str, Any]:
        """Parameters already validated by the processor's ``params_schema``, defaults filled."""
        ...

    @property
    def logger(self) -> logging.Logger | logging.LoggerAdapter[Any]:
        """A logger carrying the task id."""
        ...

    @property
    def cancelled(self) -> bool:
        """True once cancellation of the task has been requested."""
        ...

    def progress(self, done: int, total: int, stage: str, message: str | None = None) -> None:
        """Report progress: ``done`` of ``total`` units (bytes for built-ins) in ``stage``."""
        ...

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the task has been cancelled."""
        ...

    def write_artifact(self, name: str, data: ArtifactSource, content_type: str) -> dict[str, Any]:
        """Stream ``data`` to storage as artifact ``name``; returns ``{name, size, ...}``."""
        ...


@dataclass(frozen=True)
class Processor:
    """A named processor: its parameter schema and the function that runs it."""

    name: str
    description: str
    params_schema: type[Schema]
    run: Callable[[ProcessorContext], dict[str, Any]]
    retry: RetryPolicy | None = None
    """Its own backoff and attempt limit; None: the worker's (``BACKDROP_WORKER_RETRY_*``)."""

    def load_params(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validate ``params`` and fill defaults; raises ``marshmallow.ValidationError``."""
        loaded: dict[str, Any] = schema_instance(self.params_schema).load(dict(params or {}))
        return loaded
