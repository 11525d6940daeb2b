"""Marshmallow schemas of the public API: they validate input and generate ``/openapi.json``."""

from __future__ import annotations

import re

from backdrop_common import taskstore
from backdrop_common.inputs import SafeString, StrictSchema
from marshmallow import Schema, fields, validate

# One definition of the states, the task store's; re-exported for the views.
STATUSES, TERMINAL = taskstore.STATUSES, taskstore.TERMINAL

CONTENT_TYPE_RE = re.compile(
    r"^[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}([ \t]*;[ -~]{0,200})?\Z"
)


class TaskCreateSchema(StrictSchema):
    """Body of ``POST /v1/tasks``."""

    processor = fields.String(
        required=True, validate=validate.Length(min=1, max=100), metadata={"example": "checksum"}
    )
    params = fields.Dict(
        keys=fields.String(), load_default=dict, metadata={"example": {"algorithms": ["sha256"]}}
    )
    filename = SafeString(
        required=True, validate=validate.Length(min=1, max=1024), metadata={"example": "a.txt"}
    )
    size = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0),
        metadata={"format": "int64", "example": 15},
    )
    content_type = fields.String(
        required=True,
        validate=validate.Regexp(CONTENT_TYPE_RE),
        metadata={"example": "text/plain"},
    )
    sha256 = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[0-9a-fA-F]{64}\Z"),
        metadata={"description": "Hex SHA-256 of the file; verified at upload-complete."},
    )
    callback_url = fields.Url(
        load_default=None,
        allow_none=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
        metadata={
            "description": "POSTed the Task JSON (signed with callback_secret) on every "
            "terminal status."
        },
    )


class ProgressSchema(Schema):
    """Latest progress report of a task."""

    fraction = fields.Float(allow_none=True, metadata={"minimum": 0, "maximum": 1})
    stage = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)


class TaskErrorSchema(Schema):
    """Why a task failed."""

    code = fields.String()
    message = fields.String()


class TaskSchema(Schema):
    """The ``Task`` document (every API.md field is always present)."""

    id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    processor = fields.String(required=True)
    params = fields.Dict(required=True)
    filename = fields.String(required=True)
    size = fields.Integer(
        required=True,
        allow_none=True,
        metadata={
            "format": "int64",
            "description": "null until the bytes arrive for a seed request that named no size",
        },
    )
    content_type = fields.String(required=True)
    sha256 = fields.String(required=True, allow_none=True)
    progress = fields.Nested(ProgressSchema, required=True)
    attempts = fields.Integer(required=True)
    cancel_requested = fields.Boolean(required=True)
    error = fields.Nested(TaskErrorSchema, required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    queued_at = fields.DateTime(required=True, allow_none=True)
    started_at = fields.DateTime(required=True, allow_none=True)
    finished_at = fields.DateTime(required=True, allow_none=True)
    # Beyond the API.md contract (clients may ignore them):
    max_attempts = fields.Integer()
    upload_expires_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    attempt_errors = fields.List(
        fields.Dict(),
        metadata={"description": "One {attempt, code, message, at, retry_at?} per failed attempt."},
    )


class PartUrlSchema(Schema):
    """One presigned multipart part URL."""

    part_number = fields.Integer()
    url = fields.String()


class UploadSchema(Schema):
    """How to send the bytes: a presigned POST form or presigned multipart part URLs."""

    method = fields.String(validate=validate.OneOf(("POST", "MULTIPART")))
    url = fields.String()
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.String())
    part_size = fields.Integer()
    parts = fields.List(fields.Nested(PartUrlSchema))
    expires_at = fields.DateTime()
    stream_url = fields.String(metadata={"description": "PUT the raw bytes here instead."})


class TaskCreatedSchema(Schema):
    """Answer to a task creation."""

    task = fields.Nested(TaskSchema)
    callback_secret = fields.String(
        metadata={"description": "Only with callback_url: the secret its calls are signed with."}
    )
    upload = fields.Nested(UploadSchema, allow_none=True)


class TaskEnvelopeSchema(Schema):
    """A task wrapped in an object."""

    task = fields.Nested(TaskSchema)


# The view drops empty values (``?status=&cursor=``) before loading: documented as
# ``allowEmptyValue`` (see apidoc) so the spec admits what the server accepts.
_EMPTY_OK = {"empty_means_absent": True}


class TaskListQuerySchema(StrictSchema):
    """Query of ``GET /v1/tasks``."""

    status = fields.String(validate=validate.OneOf(STATUSES), metadata=_EMPTY_OK)
    limit = fields.Integer(
        load_default=20, validate=validate.Range(min=1, max=100), metadata=_EMPTY_OK
    )
    cursor = fields.String(validate=validate.Length(max=512), metadata=_EMPTY_OK)


class TaskListSchema(Schema):
    """A page of tasks, newest first."""

    items = fields.List(fields.Nested(TaskSchema))
    next_cursor = fields.String(allow_none=True)


class ArtifactSchema(Schema):
    """A downloadable artifact."""

    name = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    url = fields.String()
    expires_at = fields.DateTime()


class ResultSchema(Schema):
    """Result of a succeeded task."""

    task_id = fields.UUID()
    result = fields.Dict(allow_none=True)
    artifacts = fields.List(fields.Nested(ArtifactSchema))


class ProcessorSchema(Schema):
    """A processor of the catalogue."""

    name = fields.String()
    description = fields.String()
    params_schema = fields.Dict(metadata={"description": "JSON Schema of ``params``."})


class ProcessorListSchema(Schema):
    """The processor catalogue."""

    items = fields.List(fields.Nested(ProcessorSchema))


class ProblemSchema(Schema):
    """RFC 9457 problem details (``application/problem+json``)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Field → messages (validation errors)."})
