"""Auth service settings: the shared ones plus sessions, login limits, proxies and argon2."""

from __future__ import annotations

import argon2
from backdrop_common.config import BaseServiceSettings
from pydantic import Field


class AuthSettings(BaseServiceSettings):
    """``BACKDROP_*`` settings of the auth service (see the service README for the list)."""

    refresh_token_ttl: int = Field(default=30 * 24 * 3600, gt=0)
    session_max_age_s: int = Field(default=30 * 24 * 3600, gt=0)
    """Absolute session lifetime: no refresh extends a session past this age."""
    refresh_reuse_grace_s: float = Field(default=10.0, ge=0)
    """A spent refresh token presented again this soon (parallel refreshes) gets new tokens
    instead of revoking the session."""
    login_window_seconds: int = Field(default=60, gt=0)
    """A pair's or an address's failures are forgotten this long after the last one."""
    login_max_failures_per_pair: int = Field(default=5, gt=0)
    """Failures of one (account, address) pair that refuse it until the window passes."""
    login_max_failures_per_ip: int = Field(default=30, gt=0)
    """Failures of one address (any account) before its attempts are spaced out."""
    login_free_failures_per_account: int = Field(default=5, gt=0)
    """Failures of one account before attempts on it from failing addresses are spaced out."""
    login_account_window_s: int = Field(default=900, gt=0)
    """An account's failures are forgotten this long after the last one."""
    login_delay_base_s: float = Field(default=1.0, gt=0)
    """First spacing past a limit; it doubles with every further failure..."""
    login_max_delay_s: float = Field(default=30.0, gt=0)
    """...up to this."""
    register_max_per_ip: int = Field(default=5, gt=0)
    """Registrations (attempts, taken or not) per address per ``register_window_s``."""
    register_window_s: int = Field(default=3600, gt=0)
    register_max_global_per_minute: int = Field(default=30, gt=0)
    """Registrations per minute from everyone together."""
    proxy_hops: int = Field(default=0, ge=0)
    argon2_time_cost: int = Field(default=argon2.DEFAULT_TIME_COST, ge=1)
    argon2_memory_cost: int = Field(default=argon2.DEFAULT_MEMORY_COST, ge=8)
    argon2_parallelism: int = Field(default=argon2.DEFAULT_PARALLELISM, ge=1)
    argon2_max_concurrent: int = Field(default=2, ge=1)
    """argon2 computations at once per process (logins and registrations together)."""
    argon2_max_concurrent_hashes: int = Field(default=1, ge=1)
    """Of those, how many may be new hashes (registrations), so sign-ups cannot take every
    slot from logins."""
