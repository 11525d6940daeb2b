"""Worker configuration: the shared ``BACKDROP_*`` settings plus ``BACKDROP_WORKER_*``."""

from __future__ import annotations

import os
import socket

from backdrop_common.config import BaseServiceSettings
from backdrop_common.retries import RetryPolicy
from pydantic import Field


class WorkerSettings(BaseServiceSettings):
    """Settings of one worker process (every field is also a ``backdrop-worker`` option)."""

    worker_processors: str = Field(
        default="", description="Comma-separated processor names to serve; empty = all."
    )
    worker_concurrency: int = Field(default=2, ge=1, le=256)
    worker_id: str = Field(default="", description="Consumer name; empty = <host>-<pid>.")
    worker_health_host: str = "0.0.0.0"  # noqa: S104 - probes reach the pod from outside
    worker_health_port: int = Field(default=9100, ge=0, le=65535, description="0 = pick a free one")
    worker_lease_seconds: float = Field(default=30.0, gt=0)
    worker_lease_renew_seconds: float = Field(
        default=0.0, ge=0, description="Lease renewal period; 0 = lease / 3."
    )
    worker_cancel_deadline_seconds: float = Field(default=5.0, ge=0)
    worker_shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    worker_retry_base_seconds: float = Field(
        default=2.0, ge=0, description="Retry backoff: the longest wait after attempt 1."
    )
    worker_retry_factor: float = Field(
        default=2.0, ge=1, description="Retry backoff: each attempt's longest wait times this."
    )
    worker_retry_cap_seconds: float = Field(
        default=300.0, ge=0, description="Retry backoff: no wait longer than this."
    )
    worker_block_ms: int = Field(default=1000, ge=10, description="XREADGROUP BLOCK time")

    @property
    def retry_policy(self) -> RetryPolicy:
        """The backoff of processors that bring no policy of their own (full jitter)."""
        return RetryPolicy(
            base_s=self.worker_retry_base_seconds,
            factor=self.worker_retry_factor,
            cap_s=self.worker_retry_cap_seconds,
        )

    @property
    def processor_names(self) -> list[str] | None:
        """The processors to serve, or ``None`` for every installed one."""
        names = [n.strip() for n in self.worker_processors.split(",") if n.strip()]
        return names or None

    @property
    def consumer_name(self) -> str:
        """This worker's consumer name in the ``workers`` group (unique per process)."""
        return self.worker_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def lease_renew_interval(self) -> float:
        """How often a running job's lease is extended."""
        return self.worker_lease_renew_seconds or self.worker_lease_seconds / 3

    @property
    def reclaim_idle_seconds(self) -> float:
        """Idle time after which another worker's pending message is taken over.

        Half a lease more than the lease itself: a live worker touches its messages every
        lease/3, so only a worker that also let its database lease lapse crosses this line,
        whatever the clock skew between Redis and PostgreSQL.
        """
        return self.worker_lease_seconds * 1.5
