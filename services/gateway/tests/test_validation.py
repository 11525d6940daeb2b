"""Input validation of task creation: every field, hostile input, bodies that are not JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import task_body

BAD_FIELDS = [
    ("processor", None),
    ("processor", 5),
    ("processor", ""),
    ("processor", ["checksum"]),
    ("processor", "x" * 101),
    ("filename", None),
    ("filename", ""),
    ("filename", 7),
    ("filename", "x" * 1025),
    ("filename", "x" * 10_000),
    ("filename", "nul\x00byte"),
    ("filename", "new\nline"),
    ("filename", "lone \ud800 surrogate"),
    ("size", None),
    ("size", -1),
    ("size", "10"),
    ("size", 1.5),
    ("size", True),
    ("size", [1]),
    ("content_type", None),
    ("content_type", ""),
    ("content_type", "text"),
    ("content_type", "text/plain\r\nX-Injected: 1"),
    ("content_type", 5),
    ("sha256", "zz"),
    ("sha256", "a" * 63),
    ("sha256", "a" * 65),
    ("sha256", "g" * 64),
    ("sha256", "a" * 64 + "\n"),
    ("sha256", 12),
    ("params", []),
    ("params", "x"),
    ("params", 3),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_bad_field_is_400_naming_the_field(api: Any, field: str, value: Any) -> None:
    resp = api.create(**{field: value})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert doc["code"] == "validation_error" and field in doc["errors"]


@pytest.mark.parametrize("missing", ["processor", "filename", "size", "content_type"])
def test_missing_required_field(api: Any, missing: str) -> None:
    body = task_body()
    del body[missing]
    resp = api.post("/v1/tasks", json=body)
    assert resp.status_code == 400 and missing in resp.get_json()["errors"]


def test_unknown_field_is_rejected(api: Any) -> None:
    resp = api.create(sha_256="a" * 64)
    assert resp.status_code == 400 and "sha_256" in resp.get_json()["errors"]


def test_unknown_processor(api: Any) -> None:
    resp = api.create(processor="no-such-thing")
    assert resp.status_code == 400
    assert "processor" in resp.get_json()["errors"]


BAD_PARAMS = [
    ("checksum", {"algorithms": ["crc0"]}),
    ("checksum", {"algorithms": []}),
    ("checksum", {"algorithms": "sha256"}),
    ("checksum", {"other": 1}),
    ("text-stats", {"top": 0}),
    ("text-stats", {"top": "10"}),
    ("text-stats", {"top": 10_000}),
    ("csv-profile", {"delimiter": ",,"}),
    ("csv-profile", {"delimiter": 5}),
    ("csv-profile", {"delimiter": "\x00"}),
    ("image-thumbnail", {"format": "gif"}),
    ("image-thumbnail", {"max_width": 0}),
    ("image-thumbnail", {"max_height": -5}),
    ("image-thumbnail", {"max_width": 1.5}),
    ("gzip", {"level": 0}),
    ("gzip", {"level": 10}),
    ("gzip", {"level": True}),
]


@pytest.mark.parametrize(("processor", "params"), BAD_PARAMS)
def test_bad_params_per_processor(api: Any, processor: str, params: dict[str, Any]) -> None:
    resp = api.create(processor=processor, params=params)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "params" in resp.get_json()["errors"]


GOOD_PARAMS = [
    ("checksum", {"algorithms": ["sha256", "sha1", "md5", "blake2b"]}),
    ("text-stats", {"top": 1000}),
    ("csv-profile", {"delimiter": ";"}),
    ("csv-profile", {"delimiter": "\t"}),
    ("csv-profile", {}),
    ("image-thumbnail", {"max_width": 64, "max_height": 64, "format": "jpeg"}),
    ("gzip", {"level": 9}),
]


@pytest.mark.parametrize(("processor", "params"), GOOD_PARAMS)
def test_good_params_per_processor(api: Any, processor: str, params: dict[str, Any]) -> None:
    task = api.new_task(processor=processor, params=params)
    for name, value in params.items():
        assert task["params"][name] == value


@pytest.mark.parametrize(
    "filename",
    [
        "../../etc/passwd",
        "'; DROP TABLE tasks.tasks; --",
        "Robert'); DELETE FROM tasks.tasks WHERE ('1'='1",
        "%00%2e%2e%2f",
        "名前 файл ملف 🎉.txt",
        "\u202etxt.exe",
        "x" * 1024,
        "C:\\Windows\\system32",
        "<script>alert(1)</script>",
    ],
)
def test_odd_filenames_are_stored_verbatim(api: Any, filename: str) -> None:
    task = api.new_task(filename=filename)
    assert task["filename"] == filename
    got = api.get(f"/v1/tasks/{task['id']}").get_json()
    assert got["filename"] == filename
    assert len(api.get("/v1/tasks").get_json()["items"]) == 1  # the table is still there


def test_sql_metacharacters_in_params_of_third_party(api: Any, redis_client: Any) -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    entry = {"name": "ext", "description": "x", "params_schema": schema}
    redis_client.hset("backdrop:processors", "ext", json.dumps(entry))
    task = api.new_task(processor="ext", params={"q": "' OR 1=1; --"})
    assert task["params"] == {"q": "' OR 1=1; --"}


def test_malformed_json_is_400(api: Any) -> None:
    for raw in (b"{oops", b"", b"\xff\xfe", b'{"a": 1', b"[" * 100_000 + b"]" * 100_000):
        resp = api.post("/v1/tasks", data=raw, content_type="application/json")
        assert resp.status_code == 400, raw[:10]
        assert resp.mimetype == "application/problem+json"


def test_nan_and_infinity_are_not_json(api: Any, redis_client: Any) -> None:
    # A third-party processor's "number" param let NaN through to jsonb: a 500.
    schema = {"type": "object", "properties": {"ratio": {"type": "number"}}}
    entry = {"name": "ext", "description": "x", "params_schema": schema}
    redis_client.hset("backdrop:processors", "ext", json.dumps(entry))
    for constant in ("NaN", "Infinity", "-Infinity"):
        raw = json.dumps(task_body(processor="ext", params={"ratio": "RATIO"}))
        raw = raw.replace('"RATIO"', constant)
        resp = api.post("/v1/tasks", data=raw, content_type="application/json")
        assert resp.status_code == 400, (constant, resp.get_data(as_text=True))
        assert resp.get_json()["code"] == "validation_error"


def test_non_object_json_is_400(api: Any) -> None:
    for value in ([], "x", 1, None):
        resp = api.post("/v1/tasks", data=json.dumps(value), content_type="application/json")
        assert resp.status_code == 400


def test_ten_megabyte_body_is_413(api: Any) -> None:
    body = json.dumps(task_body(filename="x" * (10 * 1024 * 1024)))
    resp = api.post("/v1/tasks", data=body, content_type="application/json")
    assert resp.status_code == 413
    assert resp.get_json()["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
@pytest.mark.parametrize("path", ["/v1/tasks", "/task/request", "/auth/login"])
def test_json_endpoints_refuse_other_media_types(api: Any, path: str, content_type: Any) -> None:
    # A JSON text sent as text/plain or a form is what a cross-site page can post without a
    # CORS preflight; it used to be accepted (201) on every JSON endpoint.
    body = {
        "/v1/tasks": task_body(),
        "/task/request": {"task_type": "checksum", "size": 3},
        "/auth/login": {"identifier": "someone", "password": "x"},
    }[path]
    resp = api.post(path, data=json.dumps(body), content_type=content_type)
    assert resp.status_code == 415, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "unsupported_media_type"
