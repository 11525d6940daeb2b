"""The processor catalogue: built-in definitions, their JSON Schemas, publish and read back."""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsonschema
import pytest
import redis
from backdrop_common import catalogue
from backdrop_common.processor_params import BUILTINS
from backdrop_common.redis_keys import PROCESSORS_KEY
from marshmallow import Schema, ValidationError, fields


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_schema_shows_its_defaults_and_refuses_unknown_fields(name: str) -> None:
    spec = BUILTINS[name]
    entry = catalogue.describe(spec)
    assert entry["name"] == name and entry["description"]
    schema = entry["params_schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    defaults = {key: prop["default"] for key, prop in schema["properties"].items()}
    assert defaults == spec.params_schema().load({})
    jsonschema.validate(defaults, schema)


def test_strict_integers() -> None:
    with pytest.raises(ValidationError, match="integer"):
        BUILTINS["gzip"].params_schema().load({"level": "6"})


class WordParams(Schema):
    min = fields.Integer(load_default=1)


@dataclass(frozen=True)
class Word:
    name: str = "word-count"
    description: str = "Counts words."
    params_schema: type[Schema] = WordParams


def test_published_entries_extend_and_overlay_the_builtins(redis_client: redis.Redis) -> None:
    catalogue.publish(redis_client, catalogue.entries([Word()]))
    redis_client.hset(PROCESSORS_KEY, "broken", "{not json")
    redis_client.hset(PROCESSORS_KEY, "gzip", json.dumps({"description": "x", "params_schema": {}}))
    items = {item["name"]: item for item in catalogue.listing(redis_client)}
    assert set(items) == {*BUILTINS, "word-count"}
    assert items["word-count"]["params_schema"]["properties"]["min"]["default"] == 1
    assert items["gzip"] == {"name": "gzip", "description": "x", "params_schema": {}}
    assert catalogue.published_entry(redis_client, "word-count")["description"] == "Counts words."
    assert catalogue.published_entry(redis_client, "broken") is None
    assert catalogue.published_entry(redis_client, "absent") is None


def test_listing_without_redis_is_the_builtins() -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    assert [item["name"] for item in catalogue.listing(dead)] == sorted(BUILTINS)
