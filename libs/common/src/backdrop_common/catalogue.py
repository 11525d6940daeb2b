"""The processor catalogue in Redis (hash ``backdrop:processors``): written by workers, read
by the gateway.

Each entry is ``name -> JSON {name, description, params_schema}``, ``params_schema`` being
the JSON Schema of the processor's marshmallow params schema. Workers publish the processors
they serve (built-in or third-party, found through the ``backdrop.processors`` entry points);
the gateway lists the built-ins (``processor_params.BUILTINS``) overlaid and extended by what
was published, so the built-ins are listed even before any worker ran.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Protocol

import redis
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from marshmallow import Schema, missing

from backdrop_common.processor_params import BUILTINS
from backdrop_common.redis_keys import PROCESSORS_KEY

log = logging.getLogger(__name__)


class Describable(Protocol):
    """Anything with a processor's name, description and params schema."""

    @property
    def name(self) -> str:
        """The processor's name (``[a-z0-9-]``)."""
        ...

    @property
    def description(self) -> str:
        """One sentence for ``GET /v1/processors``."""
        ...

    @property
    def params_schema(self) -> type[Schema]:
        """The marshmallow schema of its parameters."""
        ...


@cache
def params_json_schema(params_schema: type[Schema]) -> dict[str, Any]:
    """``params_schema`` as a JSON Schema (2020-12) object; callers must not mutate it."""
    spec = APISpec("backdrop", "1", "3.1.0", plugins=[MarshmallowPlugin()])
    converter = OpenAPIConverter("3.1.0", lambda schema: None, spec)
    schema = params_schema()
    json_schema: dict[str, Any] = converter.schema2jsonschema(schema)  # type: ignore[no-untyped-call]
    properties = json_schema.setdefault("properties", {})
    # apispec skips callable defaults (the right way to default a list); show their value.
    for field_name, field in schema.fields.items():
        key = field.data_key or field_name
        default = field.load_default
        if key in properties and default is not missing and callable(default):
            properties[key].setdefault("default", default())
    return json_schema


def describe(processor: Describable) -> dict[str, Any]:
    """``{name, description, params_schema}``: a catalogue entry, as ``GET /v1/processors``
    lists it."""
    return {
        "name": processor.name,
        "description": processor.description,
        "params_schema": params_json_schema(processor.params_schema),
    }


def entries(processors: Iterable[Describable]) -> dict[str, str]:
    """``name -> JSON entry`` for ``processors``, ready for ``publish``."""
    return {p.name: json.dumps(describe(p)) for p in processors}


def publish(client: redis.Redis, published: Mapping[str, str]) -> None:
    """Add (or refresh) catalogue entries made by ``entries``.

    Only HSET, never a delete: workers serving other subsets keep their entries. Workers
    call it again with every presence beat, so a flushed Redis heals itself.
    """
    if published:
        client.hset(PROCESSORS_KEY, mapping=dict(published))  # type: ignore[arg-type]


def _entry(name: str, raw: object) -> dict[str, Any] | None:
    """A published entry, or None when it is not JSON with an object ``params_schema``."""
    try:
        entry = json.loads(raw) if isinstance(raw, str | bytes) else None
    except ValueError:
        entry = None
    if not isinstance(entry, dict) or not isinstance(entry.get("params_schema"), dict):
        return None
    return {
        "name": name,
        "description": str(entry.get("description") or ""),
        "params_schema": entry["params_schema"],
    }


def published_entry(client: redis.Redis, name: str) -> dict[str, Any] | None:
    """The entry workers published for ``name``, or None (absent or malformed).

    Redis errors propagate: the caller decides what an unreadable catalogue means.
    """
    return _entry(name, client.hget(PROCESSORS_KEY, name))


def listing(client: redis.Redis) -> list[dict[str, Any]]:
    """Every processor by name: the built-ins, overlaid and extended by published entries.

    Malformed entries are skipped (logged); with Redis down the built-ins are still right,
    so they alone are listed.
    """
    items = {spec.name: describe(spec) for spec in BUILTINS.values()}
    try:
        raw: dict[str, str] = client.hgetall(PROCESSORS_KEY)  # type: ignore[assignment]
    except redis.RedisError:
        log.warning("processor catalogue unavailable, listing the built-ins only")
        raw = {}
    for name, value in raw.items():
        entry = _entry(str(name), value)
        if entry is None:
            log.warning("ignoring malformed catalogue entry %r", name)
            continue
        items[entry["name"]] = entry
    return sorted(items.values(), key=lambda item: item["name"])
