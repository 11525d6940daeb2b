"""``/v1/admin/queues`` and ``/v1/admin/workers``: the delivery side, for operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backdrop_common import fleet, taskstore
from backdrop_common.redis_client import unavailable_on_error
from backdrop_common.timestamps import rfc3339
from backdrop_common.tokens import require_auth
from flask import Blueprint, Response, jsonify

from gateway import admin_schemas as schemas
from gateway import taskops
from gateway.apidoc import operation
from gateway.resources import resources

bp = Blueprint("admin_fleet", __name__)


def _age_s(when: datetime | None) -> float | None:
    if when is None:
        return None
    return round(max(0.0, (datetime.now(UTC) - when).total_seconds()), 3)


def queues(minutes: int) -> dict[str, Any]:
    """Every processor's queue (Redis stream + task table), counts by status, throughput."""
    res = resources()
    backlog = taskstore.backlog_by_processor(res.db)
    with unavailable_on_error():
        names = sorted(set(fleet.processors(res.redis)) | set(backlog))
        stats = [fleet.queue_stats(res.redis, name) for name in names]
    items = []
    for queue in stats:
        tasks = backlog.get(queue["processor"], {})
        queue["queued"] = int(tasks.get("queued", 0))
        queue["running"] = int(tasks.get("running", 0))
        queue["held"] = int(tasks.get("held", 0))
        queue["oldest_waiting_age_s"] = _age_s(tasks.get("oldest_queued_at"))
        items.append(queue)
    throughput = [
        {**row, "minute": rfc3339(row["minute"])}
        for row in taskstore.finished_per_minute(res.db, minutes)
    ]
    by_status = taskstore.count_by_status(res.db)
    return {
        "items": items,
        "tasks_by_status": by_status,
        "throughput": throughput,
        "dead_letters": taskstore.count_dead_letters(res.db),
    }


@bp.get("/v1/admin/queues")
@operation(
    tag="admin",
    query=schemas.ThroughputQuerySchema,
    responses={200: schemas.QueuesSchema, 400: None, 403: None, 503: None},
)
@require_auth("operator")
def get_queues() -> Response:
    """Per processor: stream length, lag, pending, consumers, oldest waiting; throughput."""
    query = taskops.load_query(schemas.ThroughputQuerySchema)
    return jsonify(queues(query["minutes"]))


@bp.get("/v1/admin/workers")
@operation(tag="admin", responses={200: schemas.WorkersSchema, 403: None, 503: None})
@require_auth("operator")
def get_workers() -> Response:
    """Live workers (their presence) and silent ones (consumers with no presence)."""
    res = resources()
    with unavailable_on_error():
        live = fleet.live_workers(res.redis)
        stats = [fleet.queue_stats(res.redis, name) for name in fleet.processors(res.redis)]
    silent = fleet.silent_workers(stats, live)
    leased = taskstore.running_by_worker(res.db)
    for worker in silent:
        worker["running_tasks"] = leased.get(worker["worker_id"], 0)
    return jsonify(live=live, silent=silent)
