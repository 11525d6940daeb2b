"""What any service accepts as text: the one check for characters that cannot be stored.

PostgreSQL text and jsonb cannot hold NUL, and a lone surrogate (valid in JSON as
``"\\ud800"``) cannot even be encoded to UTF-8; both would otherwise surface as a 500 from
deep inside the driver. Names and identifiers also refuse the other control characters
(Unicode category Cc); passwords and processor params may contain them.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from backdrop_common.errors import ValidationFailed

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # exactly Unicode category Cc
PRINTABLE = r"^[^\u0000-\u001f\u007f-\u009f]*$"
"""What ``SafeString`` lets through, as a documented JSON Schema (ECMA-262) pattern; the
empty string included (a length limit, documented as minLength, is the field's own)."""


def unsafe_text(text: str, *, allow_control: bool = False) -> str | None:
    """Why ``text`` cannot be accepted (a message), or None when it can."""
    if _UNSTORABLE.search(text):
        return "NUL and invalid Unicode are not allowed."
    if not allow_control and _CONTROL.search(text):
        return "Control characters are not allowed."
    return None


class SafeString(fields.String):
    """A string field refusing what ``unsafe_text`` refuses (``allow_control`` for passwords)."""

    def __init__(self, *, allow_control: bool = False, **kwargs: Any) -> None:
        if not allow_control:
            kwargs.setdefault("metadata", {}).setdefault("pattern", PRINTABLE)
        super().__init__(**kwargs)
        self.allow_control = allow_control

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = unsafe_text(text, allow_control=self.allow_control)
        if problem:
            raise ValidationError(problem)
        return text


def check_storable(value: Any, field: str) -> None:
    """Refuse (400, errors under ``field``) a JSON value whose keys or strings hold NUL or
    lone surrogates, which jsonb cannot store; other control characters are fine."""
    _check(value, field, "_schema")


def _check(value: Any, field: str, path: str) -> None:
    if isinstance(value, str):
        problem = unsafe_text(value, allow_control=True)
        if problem:
            raise ValidationFailed(errors={field: {path: [problem]}})
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, field, path)
            _check(item, field, key if path == "_schema" else f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check(item, field, path)


class StrictSchema(Schema):
    """A schema refusing undeclared fields, so a typo (``passwrod``) is an error, not ignored.

    (marshmallow's default today; spelled out because every request body relies on it.)
    """

    class Meta:
        unknown = RAISE
