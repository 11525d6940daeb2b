"""Reading request bodies strictly: JSON objects only, UTF-8 only, then a schema."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from flask import request
from marshmallow import Schema, ValidationError

from backdrop_common.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from backdrop_common.schema_instance import schema_instance


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def parse_json(
    raw: str | bytes,
    detail: str = "The body is not valid JSON.",
    errors: dict[str, Any] | None = None,
) -> Any:
    """Parse JSON text strictly: ``NaN``/``Infinity`` are refused (PostgreSQL's jsonb and
    re-encoding both choke on them) and nesting too deep to parse is a 400, not a 500."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(detail, errors=errors) from exc


def json_body(*, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; 415 if not sent as JSON, 400 if it is not a JSON
    object, 413 if over the cap."""
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    # A chunked body is cut at the limit by werkzeug, not refused: refuse it here.
    if limit is not None and request.content_length is None and len(raw) >= limit:
        raise PayloadTooLarge("The request body is too large.")
    if allow_empty and not raw.strip():
        return {}
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        # 415, not a guess: a form or text/plain body is what a cross-site form can send
        # without a CORS preflight.
        raise UnsupportedMediaType(
            "Send a JSON body with Content-Type: application/json.",
            errors={"body": ["Expected application/json."]},
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "The body is not valid UTF-8.", errors={"body": ["Invalid UTF-8."]}
        ) from exc
    doc = parse_json(text, errors={"body": ["Malformed JSON."]})
    if not isinstance(doc, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", errors={"body": ["Expected a JSON object."]}
        )
    return doc


def load(schema_class: type[Schema], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` validated by ``schema_class`` (its shared instance); field errors become a 400
    ``validation_error``."""
    try:
        result: dict[str, Any] = schema_instance(schema_class).load(data)
    except ValidationError as exc:
        messages = exc.messages
        errors = messages if isinstance(messages, dict) else {"_schema": messages}
        raise ValidationFailed(errors=errors) from exc
    return result
