"""The job every queue baseline runs: the same 1 KiB checksum the ``checksum`` processor does.

``BENCH_JOB_SOURCE=s3`` (the default) reads the input object from the same S3 server as
Backdrop's workers do; ``inline`` gets the bytes in the message (what a Celery app would do
with a payload this small). Runs in the bench's own virtualenv, not the project's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

import boto3
from botocore.config import Config

_S3: Any = None
DRAMATIQ_DONE = "bench:dramatiq:done"  # Dramatiq keeps no results: its actor lists them here


def _s3() -> Any:
    # boto3 clients are thread-safe; one per process, pooled like the workers' client.
    global _S3
    if _S3 is None:
        _S3 = boto3.client(
            "s3",
            endpoint_url=os.environ["BENCH_S3_URL"],
            region_name="us-east-1",
            aws_access_key_id="backdrop",
            aws_secret_access_key="backdrop-secret",  # noqa: S106 - the S3 stand-in's dev key
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=32),
        )
    return _S3


def checksum(key: str | None = None, data: str | None = None) -> dict[str, Any]:
    """sha256 of the object ``key`` (or of base64 ``data``), with start and end times."""
    started = time.time()
    if data is not None:
        body = base64.b64decode(data)
    else:
        body = _s3().get_object(Bucket=os.environ["BENCH_S3_BUCKET"], Key=key)["Body"].read()
    return {"sha256": hashlib.sha256(body).hexdigest(), "t0": started, "t1": time.time()}
