"""Fixtures: the sweeper's resources on real PostgreSQL, Redis and S3 (moto)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from backdrop_common import taskstore
from backdrop_testing.tasks import job_ids, new_task
from sweeper.resources import Resources
from sweeper.settings import SweeperSettings


@pytest.fixture
def settings(database_url: str, redis_url: str, s3_server: str, s3_bucket: str) -> SweeperSettings:
    """Settings pointing at this session's servers and a fresh bucket."""
    return SweeperSettings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        s3_endpoint_url=s3_server,
        s3_bucket=s3_bucket,
        sweeper_health_port=0,
    )


@pytest.fixture
def res(settings: SweeperSettings, redis_client: redis.Redis) -> Iterator[Resources]:
    """Database, Redis and storage clients; the tasks are removed afterwards."""
    made = Resources.from_settings(settings)
    taskstore.migrate_tasks(made.db)
    yield made
    with made.db.cursor() as cur:
        cur.execute("TRUNCATE tasks.tasks")
    made.close()


@pytest.fixture
def make_task(res: Resources) -> Callable[..., taskstore.TaskRow]:
    """Factory: ``make_task(**overrides)`` creates an ``awaiting_upload`` task."""

    def make(**overrides: Any) -> taskstore.TaskRow:
        return new_task(res.db, **overrides)

    return make


@pytest.fixture
def jobs(redis_client: redis.Redis) -> Callable[..., list[str]]:
    """``jobs(processor="checksum")``: the task ids on the processor's job stream."""

    return functools.partial(job_ids, redis_client)
