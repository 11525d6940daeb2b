"""``/openapi.json``, ``/docs`` and the health endpoints."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask


def spec_of(client: Any) -> dict[str, Any]:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc: dict[str, Any] = resp.get_json()
    return doc


def test_openapi_is_valid(client: Any) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    spec = spec_of(client)
    assert spec["openapi"].startswith("3.1")
    validator.validate(spec)


def test_every_route_is_documented(app: Flask, client: Any) -> None:
    paths = spec_of(client)["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if "<path:" in rule.rule:  # forwarded auth: the concrete auth routes are listed
            assert any(p.startswith("/v1/auth/") for p in paths)
            continue
        path = FlaskPlugin.flaskpath2openapi(rule.rule)
        assert path in paths, path
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], (method, path)


def test_spec_content(client: Any) -> None:
    spec = spec_of(client)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(problem["properties"])
    create = spec["paths"]["/v1/tasks"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TaskCreate"}
    required = spec["components"]["schemas"]["TaskCreate"]["required"]
    assert set(required) == {"processor", "filename", "size", "content_type"}
    assert set(create["responses"]) >= {"200", "201", "400", "401", "413", "422", "429", "503"}
    error = create["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Problem"}
    assert create["security"] == [{"bearerAuth": []}]
    listing = spec["paths"]["/v1/tasks"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"status", "limit", "cursor"}
    assert spec["paths"]["/v1/auth/login"]["post"]["security"] == []
    for path in ("/v1/auth/register", "/v1/auth/refresh", "/v1/auth/logout", "/v1/auth/me"):
        assert path in spec["paths"]
    events = spec["paths"]["/v1/tasks/{task_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    operation_ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_spec_admits_what_the_api_does(client: Any) -> None:
    """Contract gaps the schemathesis fuzzer (tests-e2e/tests/test_fuzz_api.py) found."""
    spec = spec_of(client)
    paths = spec["paths"]
    # Optional bodies: logout and upload-complete work without one.
    assert paths["/v1/auth/logout"]["post"]["requestBody"]["required"] is False
    complete = paths["/v1/tasks/{task_id}/upload-complete"]["post"]
    assert complete["requestBody"]["required"] is False
    for path, method in (
        ("/v1/tasks/{task_id}/upload-complete", "post"),
        ("/v1/tasks/{task_id}/content", "put"),
        ("/task/upload/{task_id}", "post"),
    ):
        assert {"400", "409"} <= set(paths[path][method]["responses"]), path
        assert paths[path][method]["requestBody"]["required"] is False, path  # empty files
    jwks = paths["/.well-known/jwks.json"]["get"]["responses"]["200"]["content"]
    assert jwks["application/json"]["schema"] == {"$ref": "#/components/schemas/Jwks"}
    openapi = paths["/openapi.json"]["get"]["responses"]["200"]["content"]
    assert openapi["application/json"]["schema"] == {"type": "object"}
    task = spec["components"]["schemas"]["Task"]
    assert {"max_attempts", "upload_expires_at", "next_attempt_at"} <= set(task["properties"])
    assert {"id", "status", "progress", "error", "finished_at"} <= set(task["required"])
    listing = paths["/v1/tasks"]["get"]["parameters"]
    assert all(p["allowEmptyValue"] for p in listing)  # ?status=&cursor= means "not given"
    # JSON Schema regexes are ECMA-262: Python's \Z would read as a literal "Z" there.
    assert "\\Z" not in json.dumps(spec)
    create = spec["components"]["schemas"]["TaskCreate"]["properties"]
    assert create["sha256"]["pattern"] == "^[0-9a-fA-F]{64}$"
    assert create["filename"]["pattern"] == "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    assert create["filename"]["minLength"] == 1
    register = spec["components"]["schemas"]["Register"]["properties"]
    assert re.fullmatch(register["name"]["pattern"], "")  # the server takes an empty name
    assert register["password"]["minLength"] == 8
    assert register["username"]["pattern"] == "^[A-Za-z0-9_.-]{3,32}$"


def test_docs_page_is_swagger_ui_from_this_origin(client: Any) -> None:
    resp = client.get("/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp
    assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    html = resp.get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"></script>', html)
    assert scripts == ["/docs/assets/swagger-ui-bundle.js", "/docs/assets/docs.js"]
    assert re.findall(r"<script>", html) == []  # no inline script
    assert re.findall(r'(?:src|href)="(https?:[^"]+)"', html) == []
    for path in (*scripts, "/docs/assets/swagger-ui.css"):
        asset = client.get(path)
        assert asset.status_code == 200 and len(asset.data) > 100, path
    assert b"SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").data
    assert client.get("/docs/assets/index.j2").status_code == 404
    assert client.get("/docs/assets/..%2fdocs.py").status_code == 404


def test_healthz(client: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def _operator(token_minter: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_minter.mint(roles=('user', 'operator'))}"}


def test_readyz_checks_every_dependency(client: Any, token_minter: Any) -> None:
    resp = client.get("/readyz", headers=_operator(token_minter))
    assert resp.status_code == 200, resp.get_json()
    doc = resp.get_json()
    assert doc["status"] == "ready"
    assert set(doc["checks"]) == {"postgres", "redis", "auth", "upload"}


def test_readyz_fails_when_upload_is_down(make_app: Any, token_minter: Any) -> None:
    client = make_app(upload_url="http://127.0.0.1:9").test_client()
    assert client.get("/readyz").get_json() == {"status": "unavailable"}
    resp = client.get("/readyz", headers=_operator(token_minter))
    assert resp.status_code == 503
    doc = resp.get_json()
    assert doc["checks"]["upload"].startswith("error") and doc["checks"]["postgres"] == "ok"
    assert "127.0.0.1" not in resp.get_data(as_text=True)
