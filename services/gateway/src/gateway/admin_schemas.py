"""Schemas of ``/v1/admin/*`` (operators' API): they validate input and document the API."""

from __future__ import annotations

from backdrop_common.inputs import StrictSchema
from marshmallow import Schema, fields, validate

from gateway.schemas import STATUSES, TaskSchema

_EMPTY_OK = {"empty_means_absent": True}
MAX_BULK = 100


class ConsumerSchema(Schema):
    """A consumer of a processor's job stream (a worker, by its id)."""

    name = fields.String()
    pending = fields.Integer(metadata={"description": "Delivered to it, not acknowledged."})
    idle_s = fields.Float(metadata={"description": "Seconds since it last read or acked."})


class QueueSchema(Schema):
    """One processor's queue: the Redis stream and the task table's view of it."""

    processor = fields.String()
    stream = fields.String()
    length = fields.Integer(metadata={"description": "Entries on the stream."})
    lag = fields.Integer(
        allow_none=True, metadata={"description": "Entries not yet delivered to any worker."}
    )
    pending = fields.Integer(metadata={"description": "Delivered, not yet acknowledged."})
    consumers = fields.List(fields.Nested(ConsumerSchema))
    oldest_undelivered_age_s = fields.Float(allow_none=True)
    queued = fields.Integer(metadata={"description": "Tasks queued (task table)."})
    running = fields.Integer(metadata={"description": "Tasks running (task table)."})
    held = fields.Integer(
        metadata={
            "description": "Queued tasks kept off the stream: their owner has "
            "BACKDROP_MAX_DISPATCHED_PER_USER jobs on a stream or running (included in queued)."
        }
    )
    oldest_waiting_age_s = fields.Float(
        allow_none=True,
        metadata={"description": "Age of the oldest queued task sent to the stream (not held)."},
    )


class ThroughputSchema(Schema):
    """Tasks that finished in one minute, by final status."""

    minute = fields.DateTime()
    succeeded = fields.Integer()
    failed = fields.Integer()
    cancelled = fields.Integer()


class QueuesSchema(Schema):
    """Every processor's queue, task counts by status and recent throughput."""

    items = fields.List(fields.Nested(QueueSchema))
    tasks_by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
    throughput = fields.List(fields.Nested(ThroughputSchema))
    dead_letters = fields.Integer(
        metadata={"description": "Tasks failed after their last attempt (retries_exhausted)."}
    )


class ThroughputQuerySchema(StrictSchema):
    """Query of ``GET /v1/admin/queues``."""

    minutes = fields.Integer(
        load_default=15, validate=validate.Range(min=1, max=120), metadata=_EMPTY_OK
    )


class WorkerSchema(Schema):
    """A worker that announces itself (presence refreshed every 5 s, expires after 30 s)."""

    worker_id = fields.String()
    host = fields.String()
    pid = fields.Integer(allow_none=True)
    processors = fields.List(fields.String())
    concurrency = fields.Integer()
    jobs = fields.List(fields.String(), metadata={"description": "Task ids running now."})
    started_at = fields.DateTime(allow_none=True)
    last_seen = fields.DateTime(allow_none=True)
    last_seen_age_s = fields.Float(allow_none=True)
    health_url = fields.String(allow_none=True)


class SilentWorkerSchema(Schema):
    """A job-group consumer with no live presence: died, hung, or left without cleaning up."""

    worker_id = fields.String()
    pending = fields.Integer(metadata={"description": "Messages it holds unacknowledged."})
    idle_s = fields.Float()
    running_tasks = fields.Integer(metadata={"description": "Tasks still leased to it."})


class WorkersSchema(Schema):
    """Live and silent workers."""

    live = fields.List(fields.Nested(WorkerSchema))
    silent = fields.List(fields.Nested(SilentWorkerSchema))


class AdminTaskSchema(TaskSchema):
    """A task as operators see it: the ``Task`` document plus its owner and worker."""

    owner_id = fields.UUID()
    worker_id = fields.String(allow_none=True)


class AdminTaskListSchema(Schema):
    """A page of tasks across owners, newest first."""

    items = fields.List(fields.Nested(AdminTaskSchema))
    next_cursor = fields.String(allow_none=True)


class AdminTaskQuerySchema(StrictSchema):
    """Query of ``GET /v1/admin/tasks``: filters combine with AND."""

    status = fields.String(validate=validate.OneOf(STATUSES), metadata=_EMPTY_OK)
    processor = fields.String(validate=validate.Length(min=1, max=100), metadata=_EMPTY_OK)
    owner_id = fields.UUID(metadata=_EMPTY_OK)
    created_after = fields.AwareDateTime(metadata=_EMPTY_OK)
    created_before = fields.AwareDateTime(metadata=_EMPTY_OK)
    limit = fields.Integer(
        load_default=50, validate=validate.Range(min=1, max=200), metadata=_EMPTY_OK
    )
    cursor = fields.String(validate=validate.Length(max=512), metadata=_EMPTY_OK)


class DeadLetterQuerySchema(StrictSchema):
    """Query of ``GET /v1/admin/dead-letters``."""

    processor = fields.String(validate=validate.Length(min=1, max=100), metadata=_EMPTY_OK)
    limit = fields.Integer(
        load_default=50, validate=validate.Range(min=1, max=100), metadata=_EMPTY_OK
    )
    cursor = fields.String(validate=validate.Length(max=512), metadata=_EMPTY_OK)


class BulkSchema(StrictSchema):
    """Body of the bulk actions: the task ids to act on."""

    ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=MAX_BULK))


class BulkOutcomeSchema(Schema):
    """What happened to one task of a bulk action."""

    id = fields.UUID()
    outcome = fields.String(
        metadata={
            "description": "retried, cancelled, cancel_requested, not_found, not_failed "
            "(retry of a task that has not failed) or finished (cancel of a finished task)."
        }
    )
    task = fields.Nested(AdminTaskSchema, allow_none=True)


class BulkResultSchema(Schema):
    """The outcome of a bulk action, one entry per id in the order given."""

    results = fields.List(fields.Nested(BulkOutcomeSchema))
