"""What the worker process and a job's child process say to each other over their pipe.

Parent → child: a :class:`JobSpec` (as the process argument) and a cancel event.
Child → parent: any number of :class:`Progress` messages, then exactly one :class:`Outcome`.
Only plain data crosses, so a child can be killed at any moment without leaving the parent
with half an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

OutcomeKind = Literal["succeeded", "failed", "retry", "cancelled", "crashed", "handed_back"]
"""``handed_back`` is decided by the worker (shutdown), never sent by a work horse."""


@dataclass(frozen=True)
class JobSpec:
    """Everything a child needs to run one task (no connections, no secrets beyond storage)."""

    task_id: str
    owner_id: str
    processor: str
    params: dict[str, Any]
    input_key: str
    filename: str
    size: int
    content_type: str
    progress_interval: float = 0.1  # ≤ 10 progress messages per second

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobSpec:
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
        )


@dataclass(frozen=True)
class Progress:
    """A progress report (already throttled by the child)."""

    fraction: float
    stage: str
    message: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How the processor ended."""

    kind: OutcomeKind
    result: dict[str, Any] | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    code: str | None = None
    message: str | None = None
    delay: float | None = None

    @classmethod
    def handed_back(cls) -> Outcome:
        """The worker is shutting down: the task goes back to the queue, attempt refunded."""
        return cls("handed_back", code="handed_back", message="worker shutting down")

    @classmethod
    def crashed(cls) -> Outcome:
        """The processor raised something unexpected, or its process died."""
        return cls(
            "crashed", code="processor_crashed", message="The processor failed unexpectedly."
        )
