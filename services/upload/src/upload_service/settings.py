"""Upload service settings (``BACKDROP_*`` environment variables, defaults in code)."""

from __future__ import annotations

from backdrop_common.config import BaseServiceSettings
from pydantic import Field

MiB = 1024 * 1024
GiB = 1024 * MiB


class UploadSettings(BaseServiceSettings):
    """What the upload service reads on top of the shared settings."""

    max_upload_bytes: int = Field(default=GiB, ge=0)
    """Largest upload a user may send (the gateway refuses bigger declarations too)."""
    multipart_threshold: int = Field(default=100 * MiB, ge=5 * MiB)
    """Declared sizes from here up get presigned multipart part URLs instead of a POST form."""
    presign_expires_s: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    """Lifetime of a presigned POST form (never beyond the task's upload window)."""
    multipart_expires_s: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    """Lifetime of presigned part URLs (large files take a while; also capped by the window)."""
    stream_part_size: int = Field(default=8 * MiB, ge=5 * MiB)
    """Part size when streaming a request body to storage (memory per upload ≈ 2 parts)."""
    ensure_bucket: bool | None = None
    """Create the bucket at start; default: only in development/test."""

    @property
    def should_ensure_bucket(self) -> bool:
        """Whether start-up creates the bucket."""
        return self.is_development if self.ensure_bucket is None else self.ensure_bucket
