"""The body of ``upload-complete``: the upload service validates it with these, the gateway
documents the route it forwards with the same classes."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from backdrop_common.inputs import StrictSchema
from backdrop_common.storage import MAX_PARTS


class PartEtagSchema(StrictSchema):
    """A multipart part's number and the ETag storage answered for it."""

    part_number = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_PARTS)
    )
    etag = fields.String(required=True, validate=validate.Length(min=1, max=200))


class UploadCompleteSchema(StrictSchema):
    """Body of ``upload-complete`` (``parts`` only for multipart uploads; without them the
    parts storage holds are used)."""

    parts = fields.List(fields.Nested(PartEtagSchema))

    @validates_schema(skip_on_field_errors=True)
    def _unique(self, data: dict[str, Any], **_: Any) -> None:
        parts = data.get("parts") or []
        if len({p["part_number"] for p in parts}) != len(parts):
            raise ValidationError("Part numbers must be unique.", "parts")
