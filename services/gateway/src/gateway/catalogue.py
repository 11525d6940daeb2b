"""The processor catalogue and parameter validation, without importing the worker package.

Workers publish what they serve to the Redis hash ``backdrop:processors`` (name → JSON
``{name, description, params_schema}``). Until one has, the gateway still knows the five
built-ins from API.md, whose parameters it validates with its own marshmallow schemas (so a
task is validated even before any worker ran); third-party processors are known only once a
worker published them, and their params are checked against the published JSON Schema.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
import redis
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from backdrop_common.errors import Unavailable, ValidationFailed
from backdrop_common.redis_keys import PROCESSORS_KEY
from marshmallow import Schema, ValidationError, fields, validate

log = logging.getLogger("gateway.catalogue")


class ChecksumParams(Schema):
    """Parameters of ``checksum``."""

    algorithms = fields.List(
        fields.String(validate=validate.OneOf(("sha256", "sha1", "md5", "blake2b"))),
        load_default=lambda: ["sha256"],
        validate=validate.Length(min=1, max=4),
        metadata={"description": "Digests to compute.", "default": ["sha256"]},
    )


class TextStatsParams(Schema):
    """Parameters of ``text-stats``."""

    top = fields.Integer(
        strict=True,
        load_default=10,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "How many of the most frequent words to return."},
    )


class CsvProfileParams(Schema):
    """Parameters of ``csv-profile``."""

    delimiter = fields.String(
        load_default=None,
        allow_none=True,
        # Quote and line breaks cannot delimit fields (the worker refuses them too).
        validate=[validate.Length(equal=1), validate.NoneOf(['"', "\r", "\n"])],
        metadata={"description": "Field delimiter; sniffed from the file when absent."},
    )


class ImageThumbnailParams(Schema):
    """Parameters of ``image-thumbnail``."""

    max_width = fields.Integer(strict=True, load_default=256, validate=validate.Range(1, 4096))
    max_height = fields.Integer(strict=True, load_default=256, validate=validate.Range(1, 4096))
    format = fields.String(load_default="webp", validate=validate.OneOf(("webp", "png", "jpeg")))


class GzipParams(Schema):
    """Parameters of ``gzip``."""

    level = fields.Integer(strict=True, load_default=6, validate=validate.Range(min=1, max=9))


@dataclass(frozen=True)
class Builtin:
    """A built-in processor the gateway knows without asking any worker."""

    name: str
    description: str
    params: type[Schema]


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("checksum", "Checksums of the file (sha256, sha1, md5, blake2b).", ChecksumParams),
        Builtin("text-stats", "Line, word and character counts, top words.", TextStatsParams),
        Builtin("csv-profile", "Rows and per-column type, nulls, min and max.", CsvProfileParams),
        Builtin("image-thumbnail", "A thumbnail of an image.", ImageThumbnailParams),
        Builtin("gzip", "The file compressed with gzip.", GzipParams),
    )
}


@cache
def json_schema(params: type[Schema]) -> dict[str, Any]:
    """The JSON Schema of a marshmallow params schema (what ``GET /v1/processors`` shows)."""
    plugin = MarshmallowPlugin()
    APISpec("params", "1", "3.1.0", plugins=[plugin])
    assert plugin.converter is not None
    schema: dict[str, Any] = plugin.converter.schema2jsonschema(params)  # type: ignore[no-untyped-call]
    return schema


def _published(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """Entries workers published; malformed ones are skipped (logged), not fatal."""
    found: dict[str, dict[str, Any]] = {}
    published: dict[str, str] = client.hgetall(PROCESSORS_KEY)  # type: ignore[assignment]
    for name, raw in published.items():
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict) or not isinstance(entry.get("params_schema"), dict):
                raise ValueError("not an object with params_schema")
        except ValueError:
            log.warning("ignoring malformed catalogue entry %r", name)
            continue
        found[str(name)] = {
            "name": str(name),
            "description": str(entry.get("description") or ""),
            "params_schema": entry["params_schema"],
        }
    return found


def catalogue(client: redis.Redis) -> list[dict[str, Any]]:
    """Every processor: the built-ins, overlaid and extended by what workers published."""
    items = {
        b.name: {
            "name": b.name,
            "description": b.description,
            "params_schema": json_schema(b.params),
        }
        for b in BUILTINS.values()
    }
    try:
        items.update(_published(client))
    except redis.RedisError:
        # Redis down: the built-ins are still right, so answer with them.
        log.warning("processor catalogue unavailable, serving built-ins only")
    return sorted(items.values(), key=lambda item: item["name"])


def validate_params(client: redis.Redis, processor: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validated ``params`` for ``processor`` (defaults filled for built-ins); 400 otherwise."""
    builtin = BUILTINS.get(processor)
    if builtin is not None:
        try:
            loaded: dict[str, Any] = builtin.params().load(params)
        except ValidationError as exc:
            messages = exc.normalized_messages()  # type: ignore[no-untyped-call]
            raise ValidationFailed(errors={"params": messages}) from exc
        return loaded
    try:
        raw = client.hget(PROCESSORS_KEY, processor)
    except redis.RedisError as exc:
        raise Unavailable("The processor catalogue cannot be read right now.") from exc
    entry = json.loads(raw) if isinstance(raw, str) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("params_schema"), dict):
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
