"""Validating a new task's ``params`` against its processor's schema.

Built-ins are checked with their own marshmallow schemas (``processor_params.BUILTINS``, the
copy the workers run with), so a task is validated even before any worker ran and a looser
published schema cannot widen them; third-party processors are known only once a worker
published them, and their params are checked against the published JSON Schema.
"""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
import redis
from backdrop_common import catalogue
from backdrop_common.errors import Unavailable, ValidationFailed
from backdrop_common.processor_params import BUILTINS
from backdrop_common.schema_instance import schema_instance
from marshmallow import ValidationError

log = logging.getLogger(__name__)


def validate_params(client: redis.Redis, processor: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validated ``params`` for ``processor`` (defaults filled for built-ins); 400 otherwise."""
    builtin = BUILTINS.get(processor)
    if builtin is not None:
        try:
            loaded: dict[str, Any] = schema_instance(builtin.params_schema).load(params)
        except ValidationError as exc:
            messages = exc.normalized_messages()  # type: ignore[no-untyped-call]
            raise ValidationFailed(errors={"params": messages}) from exc
        return loaded
    try:
        entry = catalogue.published_entry(client, processor)
    except redis.RedisError as exc:
        raise Unavailable("The processor catalogue cannot be read right now.") from exc
    if entry is None:
        raise ValidationFailed(errors={"processor": [f"Unknown processor {processor!r}."]})
    return _check_json_schema(entry["params_schema"], params)


def _check_json_schema(schema: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        # A worker published a broken schema: refuse rather than accept unchecked params.
        log.error("published params schema is invalid: %s", exc.message)
        raise Unavailable("This processor's parameters cannot be validated right now.") from exc
    errors: dict[str, list[str]] = {}
    for error in cls(schema).iter_errors(params):
        where = ".".join(str(p) for p in error.absolute_path) or "_schema"
        errors.setdefault(where, []).append(error.message)
    if errors:
        raise ValidationFailed(errors={"params": errors})
    return params
