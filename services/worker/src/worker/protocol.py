"""What the worker process and a work horse say to each other over their pipe.

Worker → horse: a :class:`JobSpec` per job (``None`` = exit), and a shared cancel cell.
Horse → worker: any number of :class:`Progress` messages, then exactly one :class:`Finished`
per job. Only plain data crosses, so a horse can be killed at any moment without leaving the
worker with half an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from backdrop_common import tracing

OutcomeKind = Literal[
    "succeeded", "failed", "retry", "cancelled", "crashed", "killed", "handed_back"
]
"""How a job ended. ``killed`` (the horse died by a signal: OOM killer, SIGKILL) and
``handed_back`` (shutdown) are decided by the worker, never sent by a horse."""


@dataclass(frozen=True)
class Limits:
    """What one job may use; ``None`` = unlimited (see ``WorkerSettings.limits_for``)."""

    time_s: float | None = None  # wall time; the worker kills the horse past it
    memory_bytes: int | None = None  # RLIMIT_DATA headroom above the idle horse
    result_bytes: int = 1 << 20  # the result's JSON text


@dataclass(frozen=True)
class JobSpec:
    """Everything a horse needs to run one task (no connections, no secrets beyond storage)."""

    task_id: str
    owner_id: str
    processor: str
    params: dict[str, Any]
    input_key: str
    filename: str
    size: int
    content_type: str
    limits: Limits = field(default_factory=Limits)
    seq: int = 0  # the horse's job number: a cancel names the job it is meant for
    traceparent: str | None = None  # the worker's run span, which the horse's work continues
    progress_interval: float = 0.1  # ≤ 10 progress messages per second

    @classmethod
    def from_row(cls, row: Mapping[str, Any], limits: Limits) -> JobSpec:
        """The spec of a claimed task row."""
        return cls(
            task_id=str(row["id"]),
            owner_id=str(row["owner_id"]),
            processor=str(row["processor"]),
            params=dict(row.get("params") or {}),
            input_key=str(row["object_key"]),
            filename=str(row["filename"]),
            size=int(row["size"]),
            content_type=str(row["content_type"]),
            limits=limits,
            traceparent=tracing.current_traceparent(),
        )


@dataclass(frozen=True)
class Progress:
    """A progress report (already throttled by the horse)."""

    fraction: float
    stage: str
    message: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How the processor ended (a ``succeeded`` result was already checked by the horse:
    storable by PostgreSQL and within the size limit)."""

    kind: OutcomeKind
    result: Any = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    code: str | None = None
    message: str | None = None
    delay: float | None = None

    @property
    def retryable(self) -> bool:
        """True when another attempt may succeed (up to the task's ``max_attempts``).

        A processor's ``Retry``, storage trouble and a horse killed by a signal (the OOM
        killer, an operator) are retryable; ``ProcessorError``, invalid input or results,
        limits and unexpected exceptions (a bug in the processor) are final.
        """
        return self.kind in ("retry", "killed")

    @classmethod
    def handed_back(cls) -> Outcome:
        """The worker is shutting down: the task goes back to the queue, attempt refunded."""
        return cls("handed_back", code="handed_back", message="worker shutting down")

    @classmethod
    def crashed(cls) -> Outcome:
        """The processor raised something unexpected."""
        return cls(
            "crashed", code="processor_crashed", message="The processor failed unexpectedly."
        )

    @classmethod
    def killed(cls, signal_name: str) -> Outcome:
        """The horse died by a signal while running the job."""
        message = f"The processor was killed ({signal_name})."
        return cls("killed", code="processor_killed", message=message)


@dataclass(frozen=True)
class Finished:
    """The horse is done with job ``seq``; ``rss`` lets the worker decide to recycle it."""

    seq: int
    outcome: Outcome
    rss: int
