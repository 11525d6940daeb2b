"""Worker configuration: the shared ``BACKDROP_*`` settings plus ``BACKDROP_WORKER_*``."""

from __future__ import annotations

from backdrop_common.config import BaseServiceSettings
from backdrop_common.retries import RetryPolicy
from pydantic import BaseModel, Field

from worker.protocol import Limits

MiB = 1 << 20


class ProcessorLimits(BaseModel):
    """Per-processor overrides of the job limits (``BACKDROP_WORKER_LIMITS``, JSON)."""

    time_seconds: float | None = Field(default=None, gt=0)
    memory_mb: int | None = Field(default=None, ge=16)
    result_kb: int | None = Field(default=None, ge=1)


class WorkerSettings(BaseServiceSettings):
    """Settings of one worker process (every field is also a ``backdrop-worker`` option)."""

    worker_processors: str = Field(
        default="", description="Comma-separated processor names to serve; empty = all."
    )
    # Two slots already keep 2 cores busy in steady state (queue bench, 10,000 jobs, 2
    # workers: 2 slots 201 jobs/s at 4.7 ms of worker CPU per job; 4 slots 184 at 5.5): more
    # only adds processes contending for the same cores. Scale out with workers instead.
    worker_concurrency: int = Field(default=2, ge=1, le=256)
    worker_id: str = Field(
        default="", description="Consumer name; empty = <host>-<n>, the lowest n not in use."
    )
    worker_health_host: str = Field(
        default="127.0.0.1", description="Health server address (containers set 0.0.0.0)."
    )
    worker_health_port: int = Field(default=9100, ge=0, le=65535, description="0 = pick a free one")
    # Short, so a dead worker's task is taken over within ~9 s (lease + reclaim pass); a live
    # worker renews every lease / 3, which costs one UPDATE per running job every 2 s.
    worker_lease_seconds: float = Field(default=6.0, gt=0)
    worker_lease_renew_seconds: float = Field(
        default=0.0, ge=0, description="Lease renewal period; 0 = lease / 3."
    )
    worker_cancel_deadline_seconds: float = Field(
        default=0.1,
        ge=0,
        description="How long a cancelled job may take to stop by itself before it is killed.",
    )
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
    # An idle worker notices SIGTERM only when its XREADGROUP BLOCK ends, so this bounds how
    # long an idle worker takes to stop; a new message ends the block at once either way.
    worker_block_ms: int = Field(default=250, ge=10, description="XREADGROUP BLOCK time")
    worker_horse_max_jobs: int = Field(
        default=1000, ge=1, description="Jobs a work horse runs before it is replaced."
    )
    worker_horse_max_rss_mb: int = Field(
        default=384, ge=32, description="A horse whose memory grew past this is replaced."
    )
    worker_time_limit_seconds: float = Field(
        default=3600.0, gt=0, description="Wall time a job may run; past it, it fails."
    )
    worker_memory_limit_mb: int = Field(
        default=1024, ge=16, description="Memory a job may allocate on top of an idle horse."
    )
    worker_result_limit_kb: int = Field(
        default=1024, ge=1, description="Size of a result's JSON that is stored."
    )
    worker_limits: dict[str, ProcessorLimits] = Field(
        default_factory=dict,
        description='Per-processor overrides, e.g. {"gzip": {"time_seconds": 600}}.',
    )

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

    def limits_for(self, processor: str) -> Limits:
        """The limits of a job of ``processor``: its overrides, else the worker's defaults."""
        own = self.worker_limits.get(processor, ProcessorLimits())
        return Limits(
            time_s=own.time_seconds or self.worker_time_limit_seconds,
            memory_bytes=(own.memory_mb or self.worker_memory_limit_mb) * MiB,
            result_bytes=(own.result_kb or self.worker_result_limit_kb) * 1024,
        )

    @property
    def lease_renew_interval(self) -> float:
        """How often a running job's lease is extended."""
        return self.worker_lease_renew_seconds or self.worker_lease_seconds / 3

    @property
    def reclaim_idle_seconds(self) -> float:
        """Idle time after which another worker's pending message is taken over.

        More than the lease: a live worker touches its messages right after each renewal
        (every lease / 3), so a message idle this long belongs to a worker whose database
        lease has lapsed too.
        """
        return self.worker_lease_seconds * 1.25
