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
    migrate_on_start: bool = True
    """Apply the ``tasks`` schema migrations at start (advisory-locked, idempotent)."""
    sweeper_health_host: str = "127.0.0.1"
    sweeper_health_port: int = Field(default=8083, ge=0, le=65535)
    """Port of the sweeper's /healthz, /readyz, /metrics (0: no health server)."""
