"""Marshmallow schemas of request bodies; unknown fields are rejected (``RAISE``)."""

from __future__ import annotations

import unicodedata
from typing import Any

from backdrop_common.tokens import ROLES
from marshmallow import RAISE, Schema, fields, validate

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}\Z"


class SafeString(fields.String):
    """A string PostgreSQL can hold: no lone surrogates, no NUL, no control characters."""

    # allow_control=True (passwords) lets control characters other than NUL through.

    default_error_messages = {
        "unencodable": "Must be valid Unicode text.",
        "control": "Must not contain control characters.",
    }

    def __init__(self, *, allow_control: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_control = allow_control

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise self.make_error("unencodable") from exc
        if "\x00" in text or (
            not self.allow_control and any(unicodedata.category(c) == "Cc" for c in text)
        ):
            raise self.make_error("control")
        return text


class StrictSchema(Schema):
    """Fields not declared are an error, so typos (``passwrod``) do not pass silently."""

    class Meta:
        unknown = RAISE


def _password(**kwargs: Any) -> SafeString:
    return SafeString(
        required=True, allow_control=True, validate=validate.Length(**kwargs), load_only=True
    )


class RegisterSchema(StrictSchema):
    """``POST /v1/auth/register``."""

    email = SafeString(required=True, validate=[validate.Length(max=254), validate.Email()])
    username = SafeString(
        required=True,
        validate=validate.Regexp(
            USERNAME_PATTERN, error="3 to 32 characters: letters, digits, '_', '.', '-'."
        ),
    )
    password = _password(min=8, max=256)
    name = SafeString(load_default=None, allow_none=True, validate=validate.Length(max=200))


class LoginSchema(StrictSchema):
    """``POST /v1/auth/login``; ``identifier`` is an email or a username."""

    identifier = SafeString(required=True, validate=validate.Length(min=1, max=254))
    password = _password(min=1, max=256)


class RefreshSchema(StrictSchema):
    """``POST /v1/auth/refresh``."""

    refresh_token = SafeString(required=True, validate=validate.Length(min=1, max=512))


class LogoutSchema(StrictSchema):
    """``POST /v1/auth/logout`` (the body is optional)."""

    refresh_token = SafeString(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=512)
    )


class UserListQuerySchema(StrictSchema):
    """``GET /v1/admin/users`` query."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = SafeString(load_default=None, validate=validate.Length(min=1, max=200))


class RolesSchema(StrictSchema):
    """``PUT /v1/admin/users/{id}/roles``: the complete set (``user`` is always kept)."""

    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(max=len(ROLES)),
    )
