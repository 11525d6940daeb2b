"""Schemas of the seed-compatible aliases (``/auth/login``, ``/task/...``; see aliases.py)."""

from __future__ import annotations

from backdrop_common.auth_schemas import TokenSchema
from backdrop_common.inputs import SafeString, StrictSchema
from marshmallow import Schema, fields, validate

from gateway.schemas import CONTENT_TYPE_RE, ArtifactSchema, TaskSchema, UploadSchema


class SeedTokenSchema(TokenSchema):
    """The seed login answer: the tokens plus ``token`` (= ``access_token``)."""

    token = fields.String()


class SeedTaskRequestSchema(StrictSchema):
    """Body of the seed ``POST /task/request``; without ``size`` the bytes are streamed."""

    task_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    params = fields.Dict(keys=fields.String(), load_default=dict)
    filename = SafeString(load_default="upload.bin", validate=validate.Length(min=1, max=1024))
    size = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0),
        metadata={
            "description": "Optional: without it, upload is null; POST the bytes to upload_url."
        },
    )
    content_type = fields.String(
        load_default="application/octet-stream", validate=validate.Regexp(CONTENT_TYPE_RE)
    )
    sha256 = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9a-fA-F]{64}\Z")
    )


class SeedTaskCreatedSchema(Schema):
    """Answer of the seed ``POST /task/request``."""

    task_id = fields.UUID()
    status = fields.String()
    upload = fields.Nested(UploadSchema, allow_none=True)
    upload_url = fields.String(metadata={"description": "POST the raw bytes here."})
    task = fields.Nested(TaskSchema)


class SeedStatusSchema(Schema):
    """Answer of the seed ``GET /task/status/<id>``."""

    task_id = fields.UUID()
    status = fields.String()
    progress = fields.Float(metadata={"minimum": 0, "maximum": 1})
    message = fields.String(allow_none=True)


class SeedCancelSchema(Schema):
    """Answer of the seed ``POST /task/cancel/<id>``."""

    task_id = fields.UUID()
    status = fields.String()
    cancel_requested = fields.Boolean()
    task = fields.Nested(TaskSchema)


class SeedResultSchema(Schema):
    """Answer of the seed ``GET /task/result/<id>`` (same as the v1 result)."""

    task_id = fields.UUID()
    result = fields.Dict(allow_none=True)
    artifacts = fields.List(fields.Nested(ArtifactSchema))
