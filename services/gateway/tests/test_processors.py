"""``GET /v1/processors`` and params validation against published catalogue entries.

The built-ins' definitions are the ones the workers run with (``processor_params``): one
copy, so there is nothing to drift.
"""

from __future__ import annotations

import json
from typing import Any

from backdrop_common import catalogue
from gateway.params import validate_params

BUILTINS = ["checksum", "csv-profile", "gzip", "image-thumbnail", "text-stats"]


def test_builtins_are_listed_before_any_worker_ran(api: Any) -> None:
    resp = api.get("/v1/processors")
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert [i["name"] for i in items] == BUILTINS
    by_name = {i["name"]: i for i in items}
    assert by_name["gzip"]["params_schema"]["properties"]["level"]["maximum"] == 9
    fmt = by_name["image-thumbnail"]["params_schema"]["properties"]["format"]
    assert set(fmt["enum"]) == {"webp", "png", "jpeg"}
    assert all(i["description"] for i in items)


def test_published_entries_extend_and_refresh_the_catalogue(api: Any, redis_client: Any) -> None:
    ext = {
        "name": "word-count",
        "description": "Counts words.",
        "params_schema": {
            "type": "object",
            "properties": {"min": {"type": "integer", "minimum": 1}},
            "additionalProperties": False,
        },
    }
    redis_client.hset("backdrop:processors", "word-count", json.dumps(ext))
    redis_client.hset("backdrop:processors", "broken", "{not json")
    gz = {"name": "gzip", "description": "Published text.", "params_schema": {"type": "object"}}
    redis_client.hset("backdrop:processors", "gzip", json.dumps(gz))
    items = {i["name"]: i for i in api.get("/v1/processors").get_json()["items"]}
    assert "word-count" in items and "broken" not in items
    assert items["gzip"]["description"] == "Published text."
    # Third-party params are checked against the published JSON Schema.
    assert api.new_task(processor="word-count", params={"min": 2})["params"] == {"min": 2}
    for bad in ({"min": 0}, {"min": "2"}, {"other": 1}):
        resp = api.create(processor="word-count", params=bad)
        assert resp.status_code == 400 and "params" in resp.get_json()["errors"]
    # Built-ins keep the gateway's own schema even when the published one is looser.
    assert api.create(processor="gzip", params={"level": 42}).status_code == 400


def test_a_broken_published_schema_refuses_rather_than_accepts(api: Any, redis_client: Any) -> None:
    entry = {"name": "odd", "description": "", "params_schema": {"type": 12}}
    redis_client.hset("backdrop:processors", "odd", json.dumps(entry))
    resp = api.create(processor="odd")
    assert resp.status_code == 503


def test_catalogue_survives_redis_outage(make_app: Any) -> None:
    app = make_app()
    with app.app_context():
        import redis

        dead = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)
        names = [i["name"] for i in catalogue.listing(dead)]
        assert names == BUILTINS
        assert validate_params(dead, "gzip", {}) == {"level": 6}
