"""Typed service configuration read from ``BACKDROP_*`` environment variables.

Defaults live in code; the environment overrides them. A value that is required but
missing, or a placeholder secret outside development, stops start-up with a message that
names the variable (pydantic-settings raises ``ValidationError`` listing each field).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backdrop_common import secret_policy


class BaseServiceSettings(BaseSettings):
    """Settings every Backdrop service shares; services subclass it to add their own."""

    # hide_input_in_errors: a start-up error must not print values (it printed the tail of
    # the S3 secret); the message names the variable, which is enough to fix it.
    model_config = SettingsConfigDict(
        env_prefix="BACKDROP_", extra="ignore", hide_input_in_errors=True
    )

    env: Literal["development", "test", "production"] = "production"
    secret_key: str = "dev-insecure-change-me"  # noqa: S105 - refused outside development
    database_url: str = "postgresql://127.0.0.1:5432/backdrop"
    redis_url: str = "redis://127.0.0.1:6379/0"
    auth_url: str = "http://127.0.0.1:8081"
    upload_url: str = "http://127.0.0.1:8082"
    public_url: str = "http://127.0.0.1:8080"
    """The gateway's public base URL: every absolute URL given to clients starts with it
    (never with the request's Host header, which the client chooses)."""
    jwt_issuer: str = "backdrop-auth"
    jwt_audience: str = "backdrop"
    access_token_ttl: int = 900
    s3_endpoint_url: str = "http://127.0.0.1:9000"
    s3_public_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = "backdrop"
    s3_secret_key: str = "backdrop-secret"  # noqa: S105 - dev default, refused in production
    s3_bucket: str = "backdrop"
    log_level: str = "INFO"
    max_json_body: int = 1024 * 1024
    body_read_timeout_s: float = 30.0  # a request body that stalls this long: 408
    db_pool_max: int = 10
    # Connections kept open between requests, per process. psycopg2 closes every returned
    # connection above this, so a lower value made each burst above it pay new PostgreSQL
    # connections (a backend fork each: 6% of the gateway's read-path profile under wrk -c32).
    db_pool_idle: int = 10
    # Networks a webhook URL may resolve into although they are not public (JSON list of
    # CIDRs, e.g. '["127.0.0.1/32"]'); checked by the gateway and by the sweeper's sender.
    webhook_allow_networks: list[str] = []
    max_dispatched_per_user: int = Field(default=3, ge=1)
    """Fair share: an owner's jobs that may be on a stream or running at once; more wait in
    PostgreSQL (``backdrop_common.jobs``). Below the fleet's job slots (4 in the dev stack
    and the Kubernetes base, 6 in docker-compose), so one user's backlog leaves slots for
    others. Every service that sends jobs (upload, worker, sweeper, gateway) must see the
    same value."""
    migrate_on_start: bool = True
    """Apply this service's schema migrations at start (advisory-locked, idempotent). Off
    where the service connects as its least-privilege role (``backdrop_common.dbroles``),
    which may not change the schema: the owner's one-shot migration does it first."""

    @property
    def is_development(self) -> bool:
        """True in development and test mode (test only on loopback: see ``secret_policy``)."""
        return self.env in ("development", "test")

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> BaseServiceSettings:
        # Why here: a service must never boot in production with a secret anyone can read
        # in this repository, or guess.
        if self.env == "development":
            return self
        if self.env == "test" and secret_policy.all_on_loopback(
            (self.database_url, self.redis_url, self.s3_endpoint_url)
        ):
            return self
        for field, value in self._secrets():
            reason = secret_policy.weakness(value)
            if reason is not None:
                raise ValueError(
                    f"{field} {reason}; set a random one (e.g. openssl rand -hex 32). "
                    "Weak secrets are accepted only with BACKDROP_ENV=development, or "
                    "BACKDROP_ENV=test with every backing service on loopback"
                )
        return self

    def _secrets(self) -> list[tuple[str, str]]:
        """(what to call it, value) of every secret the production check covers; settings
        classes with secrets of their own extend it.

        The password in ``BACKDROP_DATABASE_URL`` counts when there is one; a URL without one
        is accepted (certificate, peer or ``.pgpass`` authentication).
        """
        found = [
            ("BACKDROP_SECRET_KEY", self.secret_key),
            ("BACKDROP_S3_SECRET_KEY", self.s3_secret_key),
        ]
        password = urlsplit(self.database_url).password
        if password is not None:
            found.append(("the password in BACKDROP_DATABASE_URL", unquote(password)))
        return found

    @property
    def presign_endpoint_url(self) -> str:
        """The S3 endpoint written into presigned URLs (what clients can reach)."""
        return self.s3_public_endpoint_url or self.s3_endpoint_url
