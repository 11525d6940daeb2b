"""Object storage (any S3-compatible server): object keys, presigned uploads, streaming I/O.

``Storage`` holds two boto3 clients: ``s3`` talks to ``settings.s3_endpoint_url``
(server-side calls) and ``signer`` only signs URLs for ``settings.presign_endpoint_url``
(what clients reach); a SigV4 signature covers the host, so a URL must be signed for the
host the client will use.
"""

from __future__ import annotations

from backdrop_common.storage._s3 import ObjectNotFound, Storage
from backdrop_common.storage.keys import (
    MAX_FILENAME_BYTES,
    MAX_OBJECT_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    MiB,
    artifact_key,
    input_key,
    multipart_part_size,
    sanitize_filename,
    verified_key,
)

__all__ = [
    "MAX_FILENAME_BYTES",
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "MiB",
    "ObjectNotFound",
    "Storage",
    "artifact_key",
    "input_key",
    "multipart_part_size",
    "sanitize_filename",
    "verified_key",
]
