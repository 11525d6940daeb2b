"""Sweeper settings (``BACKDROP_*`` environment variables, defaults in code)."""

from __future__ import annotations

from backdrop_common.config import BaseServiceSettings
from pydantic import Field


class SweeperSettings(BaseServiceSettings):
    """What the sweeper reads on top of the shared settings."""

    sweep_interval_s: float = Field(default=5.0, gt=0)
    """Pause between two sweeps."""
    relay_after_s: float = Field(default=10.0, ge=0)
    """A queued task whose XADD is unconfirmed this long is relayed by the sweeper."""
    stale_after_s: float = Field(default=120.0, ge=0)
    """Check jobs sent this long ago against their stream (re-send if gone); 0 disables."""
    recovery_window_s: float = Field(default=120.0, ge=0)
    """After Redis lost its data, check every job at each sweep for this long (workers
    whose leases lapse meanwhile lost their pending messages with the data)."""
    input_grace_s: float = Field(default=60.0, ge=0)
    """Clock-skew margin: a task's input key is swept this long after its upload window."""
    sweeper_health_host: str = "127.0.0.1"
    sweeper_health_port: int = Field(default=8083, ge=0, le=65535)
    """Port of the sweeper's /healthz, /readyz, /metrics (0: no health server)."""
    webhook_interval_s: float = Field(default=1.0, gt=0)
    """Pause of the webhook dispatcher when no delivery is due."""
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=30)
    """Connect and read timeout of one webhook attempt."""
    webhook_backoff_s: float = Field(default=30.0, gt=0)
    """Wait after a delivery's first failed attempt; doubled after each further one."""
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    """Longest wait between two attempts."""
    webhook_retry_for_s: float = Field(default=26 * 3600.0, gt=0)
    """A delivery is retried until it is this old (over a day), then marked failed."""
    webhook_concurrency: int = Field(default=8, ge=1, le=64)
    """Deliveries sent at once."""
