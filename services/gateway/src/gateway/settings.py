"""Gateway configuration: the shared ``BACKDROP_*`` settings plus the gateway's own knobs."""

from __future__ import annotations

from backdrop_common.config import BaseServiceSettings
from pydantic import Field

GIB = 1024**3


class GatewaySettings(BaseServiceSettings):
    """Settings of the gateway (environment variables ``BACKDROP_<FIELD>``)."""

    max_upload_bytes: int = Field(default=GIB, ge=0)
    """Largest upload a user may declare; bigger declarations get 413."""
    max_unfinished_tasks: int = Field(default=20, ge=1)
    """Per-user cap on tasks not yet in a terminal state; beyond it 429."""
    max_awaiting_upload_bytes: int = Field(default=10 * GIB, ge=0)
    """Per-user cap on declared bytes of tasks awaiting their upload (and of tasks cancelled
    before it, until their upload window closes: their URLs stay valid); beyond it 429."""
    quota_retry_after_s: int = Field(default=30, ge=1)
    """``Retry-After`` sent with the per-user cap's 429."""
    upload_window_s: int = Field(default=900, ge=60)
    """How long a new task waits for its upload before it expires."""
    result_url_ttl_s: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    """Lifetime of the presigned artifact download URLs."""
    sse_keepalive_s: float = Field(default=15.0, gt=0)
    """Interval of ``: keep-alive`` comments on an idle event stream."""
    sse_block_ms: int = Field(default=5000, ge=10, le=60_000)
    """How long one XREAD BLOCK waits for new events."""
    sse_max_duration_s: float = Field(default=1800.0, gt=0)
    """An event stream is closed after this long; clients resume with Last-Event-ID."""
    sse_max_streams: int = Field(default=1000, ge=1)
    """Live streams per process (each holds one Redis connection); beyond it 503."""
    sse_row_check_s: float = Field(default=60.0, gt=0)
    """How often an idle stream reads its task row (in case a terminal event was lost)."""
    live_auth_check_s: float = Field(default=5.0, gt=0)
    """How often a live stream checks that its token was not revoked (logout, a disabled
    account); it then ends with an ``end`` event. Expiry is exact."""
    ws_auth_timeout_s: float = Field(default=10.0, gt=0)
    """How long a WebSocket without a token in its handshake may take to send it."""
    live_streams_per_user: int = Field(default=10, ge=1)
    """Live streams (SSE, WebSocket) one account may hold open at once; beyond it 429."""
    live_streams_per_address: int = Field(default=50, ge=1)
    """Live streams one client address may hold open at once (any account); beyond it 429."""
    live_lease_s: float = Field(default=60.0, ge=5)
    """A stream's place under the caps expires this long after its last renewal (so a
    crashed gateway's streams do not count forever); open streams renew it."""
    live_retry_after_s: int = Field(default=5, ge=1)
    """``Retry-After`` sent with a live-stream cap's 429 or 503."""
    redis_pool_max: int = Field(default=200, ge=1)
    """Redis connections for everything else per process (requests wait for a free one)."""
    forward_connect_timeout_s: float = Field(default=3.0, gt=0)
    """Connect timeout towards auth and upload."""
    forward_read_timeout_s: float = Field(default=120.0, gt=0)
    """Read timeout towards auth and upload (an upload's completion may take a while)."""
    internal_timeout_s: float = Field(default=5.0, gt=0)
    """Timeout of the gateway's own calls (upload instructions, readiness probes)."""
    trust_forwarded_for: bool = False
    """Append to an incoming X-Forwarded-For (only behind a trusted proxy) instead of
    replacing it with the peer address, so clients cannot spoof their address to auth's
    per-IP rate limit."""
    metrics_token: str = ""
    """Bearer token Prometheus sends to read ``/metrics`` (an operator's access token works
    too); empty = only operators' tokens. ``/metrics`` is never open to the world."""
