"""Auth service settings: the shared ones plus sessions, login limits, proxies and argon2."""

from __future__ import annotations

import argon2
from backdrop_common.config import BaseServiceSettings
from pydantic import Field


class AuthSettings(BaseServiceSettings):
    """``BACKDROP_*`` settings of the auth service (see the service README for the list)."""

    refresh_token_ttl: int = Field(default=30 * 24 * 3600, gt=0)
    login_window_seconds: int = Field(default=60, gt=0)
    login_max_failures_per_pair: int = Field(default=5, gt=0)
    login_max_failures_per_ip: int = Field(default=30, gt=0)
    login_max_failures_per_identifier: int = Field(default=20, gt=0)
    proxy_hops: int = Field(default=0, ge=0)
    argon2_time_cost: int = Field(default=argon2.DEFAULT_TIME_COST, ge=1)
    argon2_memory_cost: int = Field(default=argon2.DEFAULT_MEMORY_COST, ge=8)
    argon2_parallelism: int = Field(default=argon2.DEFAULT_PARALLELISM, ge=1)
