"""The gateway's ``/metrics``: closed to the world; fleet gauges and counters for operators."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from backdrop_common import jobs, taskstore
from backdrop_testing.tasks import new_task
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_not_for_the_world(client: Any, make_api: Callable[..., Api]) -> None:
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"
    assert make_api().get("/metrics").status_code == 403
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-scrape-token"})
    assert wrong.status_code == 401


def test_scrape_token_and_operators_read_them(
    make_app: Callable[..., Flask], token_minter: Any
) -> None:
    client = make_app(metrics_token="s3cret-scrape-token").test_client()
    scraped = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert scraped.status_code == 200 and scraped.mimetype.startswith("text/plain")
    operator = token_minter.mint(roles=("operator",))
    assert (
        client.get("/metrics", headers={"Authorization": f"Bearer {operator}"}).status_code == 200
    )


def test_fleet_gauges_and_task_counters(
    make_app: Callable[..., Flask], make_api: Callable[..., Api], db: Any, redis_client: Any
) -> None:
    app = make_app(metrics_token="scrape")
    user = make_api()
    user.client = app.test_client()
    created = user.new_task(processor="checksum")
    proc = f"m-{uuid.uuid4().hex[:8]}"
    owner = uuid.uuid4()
    row, held = (new_task(db, owner_id=owner, processor=proc, params={}) for _ in range(2))
    queued = taskstore.mark_queued(db, row["id"])
    jobs.ensure_group(redis_client, proc)
    jobs.send_job(db, redis_client, queued, max_dispatched=1)
    waiting = taskstore.mark_queued(db, held["id"])
    jobs.send_job(db, redis_client, waiting, max_dispatched=1)  # over the owner's share
    text = user.client.get("/metrics", headers={"Authorization": "Bearer scrape"}).text
    samples = _samples(text)
    assert samples[("backdrop_queue_length", (("processor", proc),))] == 1
    assert samples[("backdrop_queue_lag", (("processor", proc),))] == 1
    assert samples[("backdrop_queue_pending", (("processor", proc),))] == 0
    assert samples[("backdrop_queue_oldest_wait_seconds", (("processor", proc),))] >= 0
    assert samples[("backdrop_queue_held", (("processor", proc),))] == 1
    assert samples[("backdrop_tasks", (("status", "queued"),))] >= 1
    assert ("backdrop_workers_live", ()) in samples and ("backdrop_dead_letters", ()) in samples
    assert samples[("backdrop_tasks_created_total", (("processor", "checksum"),))] >= 1
    assert created["processor"] == "checksum"
    # Labels stay bounded: no task or user id is ever a label value.
    assert (
        str(row["id"]) not in text and created["id"] not in text and str(user.user_id) not in text
    )
