"""Enforcement by a real S3/MinIO server of what Backdrop signs (moto checks none of it).

Runs only when ``BACKDROP_REAL_S3_ENDPOINT``, ``BACKDROP_REAL_S3_ACCESS_KEY``,
``BACKDROP_REAL_S3_SECRET_KEY`` and ``BACKDROP_REAL_S3_BUCKET`` are set
(``BACKDROP_REAL_S3_REGION`` defaults to ``us-east-1``); the bucket must exist.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
import requests
from backdrop_common.config import BaseServiceSettings
from backdrop_common.storage import Storage

REQUIRED = [f"BACKDROP_REAL_S3_{n}" for n in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET")]
MISSING = [name for name in REQUIRED if not os.environ.get(name)]

pytestmark = [
    pytest.mark.real_s3,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"needs a real S3/MinIO that enforces presigned policies; set {', '.join(MISSING)}",
    ),
]


@pytest.fixture
def storage() -> Storage:
    """Storage on the configured real server."""
    env = os.environ
    settings = BaseServiceSettings(
        env="test",
        s3_endpoint_url=env.get("BACKDROP_REAL_S3_ENDPOINT", ""),
        s3_access_key=env.get("BACKDROP_REAL_S3_ACCESS_KEY", ""),
        s3_secret_key=env.get("BACKDROP_REAL_S3_SECRET_KEY", ""),
        s3_region=env.get("BACKDROP_REAL_S3_REGION", "us-east-1"),
        s3_bucket=env.get("BACKDROP_REAL_S3_BUCKET", ""),
    )
    return Storage(settings)


def _post(form: dict[str, Any], data: bytes, **field_overrides: str) -> requests.Response:
    fields = {**form["fields"], **field_overrides}
    return requests.post(form["url"], data=fields, files={"file": ("f", data)}, timeout=30)


def _key() -> str:
    return f"backdrop-enforcement/{uuid.uuid4()}/input/f.txt"


def test_exact_size_is_accepted(storage: Storage) -> None:
    key = _key()
    form = storage.presigned_post(key, content_type="text/plain", max_size=5)
    assert _post(form, b"hello").status_code in (200, 201, 204)
    storage.delete(key)


def test_wrong_key_is_rejected(storage: Storage) -> None:
    form = storage.presigned_post(_key(), content_type="text/plain", max_size=5)
    other = _key()
    assert _post(form, b"hello", key=other).status_code == 403
    assert storage.head(other) is None


def test_too_big_is_rejected(storage: Storage) -> None:
    key = _key()
    form = storage.presigned_post(key, content_type="text/plain", max_size=5)
    assert _post(form, b"hello, world").status_code == 400  # EntityTooLarge
    assert storage.head(key) is None


def test_wrong_content_type_is_rejected(storage: Storage) -> None:
    key = _key()
    form = storage.presigned_post(key, content_type="text/plain", max_size=5)
    assert _post(form, b"hello", **{"Content-Type": "text/html"}).status_code == 403
    assert storage.head(key) is None


def test_expired_policy_is_rejected(storage: Storage) -> None:
    key = _key()
    form = storage.presigned_post(key, content_type="text/plain", max_size=5, expires_s=1)
    time.sleep(2.5)
    assert _post(form, b"hello").status_code == 403
    assert storage.head(key) is None


def test_multipart_part_of_another_length_is_rejected(storage: Storage) -> None:
    key = _key()
    plan = storage.presigned_multipart(key, size=9 * 1024 * 1024, content_type="text/plain")
    last = plan["parts"][-1]["url"]  # signed for exactly 1 MiB
    try:
        assert requests.put(last, data=b"x" * 1024 * 1024 + b"!", timeout=60).status_code == 403
        assert requests.put(last, data=b"x" * 1024 * 1024, timeout=60).status_code == 200
    finally:
        storage.abort_multipart(key, plan["upload_id"])
