"""Fixtures: the upload app on real PostgreSQL, Redis and S3 (moto, or Ceph RGW for tests
marked ``real_s3``), real EdDSA tokens."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from backdrop_common import redis_keys, taskstore
from backdrop_common.wiring import EXTENSION
from backdrop_testing.tokens import TokenMinter
from flask import Flask
from flask.testing import FlaskClient
from upload_service.app import create_app
from upload_service.resources import Resources
from upload_service.settings import UploadSettings

from tests.helpers import PUBLIC_URL, Users


@pytest.fixture
def s3(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(endpoint, bucket)``: Ceph RGW for tests marked ``real_s3`` (what storage enforces),
    a fresh moto bucket otherwise (fast, and the service logic is the same)."""
    if request.node.get_closest_marker("real_s3"):
        return request.getfixturevalue("real_s3"), request.getfixturevalue("real_s3_bucket")
    return request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")


@pytest.fixture
def settings(
    database_url: str, redis_url: str, s3: tuple[str, str], token_minter: TokenMinter
) -> UploadSettings:
    """Settings pointing at this session's servers, the test's bucket and the test JWKS."""
    return UploadSettings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        s3_endpoint_url=s3[0],
        s3_bucket=s3[1],
        auth_url=token_minter.base_url,  # type: ignore[attr-defined]
        public_url=PUBLIC_URL,
        max_upload_bytes=512 * 1024 * 1024,
    )


@pytest.fixture
def app(settings: UploadSettings, redis_client: redis.Redis) -> Iterator[Flask]:
    """The upload app; its tasks are removed afterwards."""
    application = create_app(settings)
    yield application
    res: Resources = application.extensions[EXTENSION]
    with res.db.cursor() as cur:
        cur.execute("TRUNCATE tasks.tasks")
    res.close()


@pytest.fixture
def res(app: Flask) -> Resources:
    """The app's database, Redis and storage."""
    resources: Resources = app.extensions[EXTENSION]
    return resources


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def users(token_minter: TokenMinter) -> Users:
    """Factory of authenticated users."""
    return Users(token_minter)


@pytest.fixture
def make_task(res: Resources) -> Callable[..., taskstore.TaskRow]:
    """Factory: ``make_task(owner, data=b"...", declare_sha=True, **overrides)``."""

    def make(owner: uuid.UUID, data: bytes = b"hello world", **overrides: Any) -> taskstore.TaskRow:
        declare_sha = overrides.pop("declare_sha", True)
        fields: dict[str, Any] = {
            "owner_id": owner,
            "processor": "checksum",
            "params": {},
            "filename": "hello.txt",
            "size": len(data),
            "content_type": "text/plain",
            "sha256": hashlib.sha256(data).hexdigest() if declare_sha else None,
            "idempotency_key": None,
            "request_hash": None,
            "upload_window_s": 900,
        }
        fields.update(overrides)
        row, _ = taskstore.create_task(res.db, **fields)
        return row

    return make


@pytest.fixture
def jobs(redis_client: redis.Redis) -> Callable[..., list[str]]:
    """``jobs(processor="checksum")``: the task ids on the processor's job stream."""

    def read(processor: str = "checksum") -> list[str]:
        return [f["task_id"] for _, f in redis_client.xrange(redis_keys.job_stream(processor))]

    return read
