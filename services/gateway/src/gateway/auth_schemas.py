"""Schemas of the forwarded auth API and of the seed-compatible aliases (docs and input)."""

from __future__ import annotations

from backdrop_common.tokens import ROLES
from marshmallow import Schema, fields, validate

from gateway.schemas import (
    CONTENT_TYPE_RE,
    PRINTABLE,
    ArtifactSchema,
    StrictSchema,
    TaskSchema,
    UploadSchema,
    safe_text,
)

# The limits below mirror what the auth service enforces, so the spec tells clients (and
# the fuzzer) the truth; auth stays the one that validates.
USERNAME_PATTERN = "^[A-Za-z0-9_.-]{3,32}$"


class RegisterSchema(Schema):
    """Body of ``POST /v1/auth/register``."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    username = fields.String(required=True, validate=validate.Regexp(USERNAME_PATTERN))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=8, max=256)
    )
    name = fields.String(allow_none=True, validate=validate.Length(max=200))


class LoginSchema(Schema):
    """Body of a login (``identifier`` = email or username)."""

    identifier = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=256)
    )


class RefreshSchema(Schema):
    """Body of ``POST /v1/auth/refresh``."""

    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=512))


class LogoutSchema(Schema):
    """Body of ``POST /v1/auth/logout`` (optional: the caller's own session always ends)."""

    refresh_token = fields.String(allow_none=True, validate=validate.Length(min=1, max=512))


class JwksSchema(Schema):
    """The public signing keys (RFC 7517 JWK Set)."""

    keys = fields.List(fields.Dict(), required=True)


class TokenSchema(Schema):
    """Tokens issued by login and refresh."""

    access_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer()
    refresh_token = fields.String()


class SeedTokenSchema(TokenSchema):
    """The seed login answer: the tokens plus ``token`` (= ``access_token``)."""

    token = fields.String()


class UserSchema(Schema):
    """A user account."""

    id = fields.UUID()
    email = fields.String()
    username = fields.String()
    name = fields.String(allow_none=True)
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        metadata={"description": "Levels: an operator is also a user, an admin also both."},
    )
    created_at = fields.DateTime()
    disabled = fields.Boolean(metadata={"description": "Disabled accounts cannot sign in."})


class UserListQuerySchema(Schema):
    """Query of ``GET /v1/admin/users``."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(min=1, max=200))


class UserListSchema(Schema):
    """A page of accounts, newest first."""

    items = fields.List(fields.Nested(UserSchema))
    next_cursor = fields.String(allow_none=True)


class RolesSchema(Schema):
    """Body of ``PUT /v1/admin/users/{id}/roles``: the roles to hold (``user`` always stays;
    the highest one given counts, as roles are levels)."""

    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(max=len(ROLES)),
    )


class SeedTaskRequestSchema(StrictSchema):
    """Body of the seed ``POST /task/request``; without ``size`` the bytes are streamed."""

    task_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    params = fields.Dict(keys=fields.String(), load_default=dict)
    filename = fields.String(
        load_default="upload.bin",
        validate=[validate.Length(min=1, max=1024), safe_text],
        metadata={"pattern": PRINTABLE},
    )
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
