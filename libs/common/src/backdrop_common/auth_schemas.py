"""The auth API's bodies: the auth service validates requests with these, the gateway
documents the routes it forwards with the same classes (one copy, so the spec tells the
truth)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from backdrop_common.inputs import SafeString, StrictSchema
from backdrop_common.tokens import ROLES

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}\Z"
# The same rule for the spec: ECMA-262 has no ``\Z``; ``$`` is as strict here because
# SafeString already refuses the trailing line break ``$`` would let through.
_USERNAME_DOC = {"pattern": "^[A-Za-z0-9_.-]{3,32}$"}


def _password(**length: Any) -> SafeString:
    return SafeString(
        required=True, allow_control=True, validate=validate.Length(**length), load_only=True
    )


class RegisterSchema(StrictSchema):
    """Body of ``POST /v1/auth/register``."""

    email = SafeString(
        required=True,
        validate=[validate.Length(max=254), validate.Email()],
        metadata={"format": "email", "example": "ann@example.com"},
    )
    username = SafeString(
        required=True,
        validate=validate.Regexp(
            USERNAME_PATTERN, error="3 to 32 characters: letters, digits, '_', '.', '-'."
        ),
        metadata=_USERNAME_DOC,
    )
    password = _password(min=8, max=256)
    name = SafeString(load_default=None, allow_none=True, validate=validate.Length(max=200))


class LoginSchema(StrictSchema):
    """Body of a login; ``identifier`` is an email or a username."""

    identifier = SafeString(
        required=True, validate=validate.Length(min=1, max=254), metadata={"example": "ann"}
    )
    password = _password(min=1, max=256)


class RefreshSchema(StrictSchema):
    """Body of ``POST /v1/auth/refresh``."""

    refresh_token = SafeString(required=True, validate=validate.Length(min=1, max=512))


class LogoutSchema(StrictSchema):
    """Body of ``POST /v1/auth/logout`` (optional: the caller's own session always ends)."""

    refresh_token = SafeString(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=512)
    )


class UserListQuerySchema(StrictSchema):
    """Query of ``GET /v1/admin/users``."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = SafeString(load_default=None, validate=validate.Length(min=1, max=200))


class RolesSchema(StrictSchema):
    """Body of ``PUT /v1/admin/users/{id}/roles``: the roles to hold (``user`` always stays;
    the highest one given counts, as roles are levels)."""

    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(max=len(ROLES)),
    )


class TokenSchema(Schema):
    """Tokens issued by login and refresh."""

    access_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer()
    refresh_token = fields.String()


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


class UserListSchema(Schema):
    """A page of accounts, newest first."""

    items = fields.List(fields.Nested(UserSchema))
    next_cursor = fields.String(allow_none=True)


class JwksSchema(Schema):
    """The public signing keys (RFC 7517 JWK Set)."""

    keys = fields.List(fields.Dict(), required=True)
