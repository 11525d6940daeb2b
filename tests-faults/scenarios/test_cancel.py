"""Scenario 5: a cancel whose pub/sub message and cancel key are both lost still ends the
task ``cancelled`` (the worker reads ``cancel_requested`` from PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from backdrop_common import redis_keys, taskstore
from backdrop_common.db import Database
from faultkit.load import Batch, submit_digests, wait_terminal
from faultkit.scenario import assert_clean, conclude


@pytest.mark.timeout(180)
def test_cancel_with_lost_signals(world, report) -> None:
    started = time.monotonic()
    batch = submit_digests(world.client, world.ledger, 2, hold_s=60.0, threads=2)
    client = world.redis.client()
    deadline = time.monotonic() + 60
    while not all(world.client.get_task(t)["status"] == "running" for t in batch.ids):
        assert time.monotonic() < deadline, "the tasks never started"
        time.sleep(0.2)
    via_api, via_db = batch.ids
    # 1. Through the API, with the workers' pub/sub connections cut and the key deleted.
    client.client_kill_filter(_type="pubsub")
    world.client.cancel(via_api)
    client.delete(redis_keys.cancel_key(via_api))
    # 2. Straight in PostgreSQL: no pub/sub message and no key ever existed.
    db = Database(world.db_url)
    try:
        taskstore.request_cancel(db, via_db, None)
    finally:
        db.close()
    asked = time.monotonic()
    done = wait_terminal(world.db_url, batch.ids, 30)
    assert done is not None, "a cancel was ignored"
    result = conclude(
        world, report, "cancel-lost-signals", Batch(batch.tasks),
        faults=2, fault_end=asked, started=started, timeout=5, expect="cancelled", ledger=False,
    )  # fmt: skip
    assert_clean(result)
