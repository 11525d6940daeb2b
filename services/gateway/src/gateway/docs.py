"""``/openapi.json`` and ``/docs``: the API description, generated from the same schemas.

``/docs`` is rendered on the server from the spec, with no script or CDN asset: the
machines that run Backdrop may have no internet access at all.
"""

from __future__ import annotations

import json
from typing import Any

from apispec import APISpec
from backdrop_common import auth_schemas
from flask import Blueprint, Response, current_app, jsonify, render_template_string

from gateway.apidoc import ERROR_TEXT, PROBLEM, build_operation, build_spec, operation

bp = Blueprint("docs", __name__)

_AUTH_ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "/v1/auth/register",
        "post",
        "Create an account (a taken email is answered like a new one; 409: username taken).",
        {
            "body": auth_schemas.RegisterSchema,
            "auth": False,
            "responses": {
                201: auth_schemas.UserSchema,
                400: None,
                409: None,
                429: None,
                503: None,
            },
        },
    ),
    (
        "/v1/auth/login",
        "post",
        "Sign in with email or username and password.",
        {
            "body": auth_schemas.LoginSchema,
            "auth": False,
            "responses": {
                200: auth_schemas.TokenSchema,
                400: None,
                401: None,
                429: None,
                503: None,
            },
        },
    ),
    (
        "/v1/auth/refresh",
        "post",
        "Trade a refresh token for new tokens (rotation).",
        {
            "body": auth_schemas.RefreshSchema,
            "auth": False,
            "responses": {200: auth_schemas.TokenSchema, 400: None, 401: None, 503: None},
        },
    ),
    (
        "/v1/auth/logout",
        "post",
        "Sign out: the access token stops working at once.",
        {
            "body": auth_schemas.LogoutSchema,
            "body_required": False,
            "responses": {204: None, 400: None, 503: None},
        },
    ),
    (
        "/v1/auth/me",
        "get",
        "The signed-in user.",
        {"responses": {200: auth_schemas.UserSchema, 503: None}},
    ),
]
_HEALTH_ROUTES = [
    ("/healthz", "Liveness: the process answers.", ("application/json", "{status: ok}")),
    (
        "/readyz",
        "Readiness: database, Redis, auth and upload answer.",
        ("application/json", "{status, checks}"),
    ),
    (
        "/metrics",
        "Prometheus metrics (the scrape token or an operator's access token).",
        ("text/plain", "Prometheus text format"),
    ),
]


def _extra(spec: APISpec) -> None:
    """Routes the gateway serves without its own view metadata: forwarded auth, health."""
    for path, method, summary, meta in _AUTH_ROUTES:
        full = {"tag": "auth", "query": None, "path": (), "headers": (), "body": None, "auth": True}
        full["body_required"] = True
        full.update(meta)

        def view() -> None: ...

        view.__doc__ = summary
        name = "auth_" + path.rsplit("/", 1)[-1]
        spec.path(path=path, operations={method: build_operation(name, view, full)})
    for path, summary, media in _HEALTH_ROUTES:
        op: dict[str, Any] = {
            "summary": summary,
            "operationId": path.strip("/"),
            "tags": ["health"],
            "security": [],
        }
        op["responses"] = {
            "200": {
                "description": media[1],
                "content": {
                    media[0]: {
                        "schema": {"type": "string"}
                        if media[0] == "text/plain"
                        else {"type": "object"}
                    }
                },
            }
        }
        if path == "/metrics":
            op["security"] = [{"bearerAuth": []}]
            for code in (401, 403):
                op["responses"][str(code)] = {
                    "description": ERROR_TEXT[code],
                    "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
        if path == "/readyz":
            op["responses"]["503"] = {
                "description": "A dependency is down",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        spec.path(path=path, operations={"get": op})


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI document of the current app (built once: routes are fixed by then)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "openapi" not in app.extensions:
        spec = build_spec(app, _extra)
        spec["servers"] = [{"url": "/"}]
        app.extensions["openapi"] = spec
    spec_doc: dict[str, Any] = app.extensions["openapi"]
    return spec_doc


@bp.get("/openapi.json")
@operation(tag="docs", auth=False, responses={200: ("application/json", "OpenAPI 3.1 document")})
def openapi_json() -> Response:
    """This API's OpenAPI 3.1 description."""
    return jsonify(openapi_spec())


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ spec.info.title }}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:2rem}
.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#06c}.post{color:#090}.put{color:#a60}.delete{color:#c00}.patch{color:#909}
code,pre{background:#f6f6f6;border-radius:4px}pre{padding:.5rem;overflow:auto;font-size:13px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
</style></head><body>
<h1>{{ spec.info.title }} <small>{{ spec.info.version }}</small></h1>
<p>{{ spec.info.description }} Machine-readable: <a href="/openapi.json">/openapi.json</a>.
Authenticate with <code>Authorization: Bearer &lt;access token&gt;</code> from
<code>POST /v1/auth/login</code>. Errors are <code>application/problem+json</code>.</p>
{% for tag, ops in groups %}<h2>{{ tag }}</h2>
{% for path, method, op in ops %}<div class="op" id="{{ op.operationId }}">
<div><span class="m {{ method }}">{{ method }}</span> <code>{{ path }}</code>
 — {{ op.summary }}{% if op.security %} <em>(bearer token)</em>{% endif %}</div>
{% if op.parameters %}<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>
{% for p in op.parameters %}<tr><td>{{ p.name }}</td><td>{{ p["in"] }}</td><td>{{ p.required }}</td>
<td><code>{{ p.schema | tojson }}</code></td></tr>{% endfor %}</table>{% endif %}
{% if op.requestBody %}<p>Request body:</p>{% for media, c in op.requestBody.content.items() %}
<pre>{{ media }}: {{ c.schema | pretty }}</pre>{% endfor %}{% endif %}
<p>Responses:</p><ul>{% for code, r in op.responses.items() %}
<li><b>{{ code }}</b> {{ r.description }}{% for media, c in (r.content or {}).items() %}
<code>{{ media }}</code> <pre>{{ c.schema | pretty }}</pre>{% endfor %}</li>
{% endfor %}</ul>
</div>{% endfor %}{% endfor %}
<h2>Schemas</h2>{% for name, schema in spec.components.schemas.items() %}
<h3 id="schema-{{ name }}">{{ name }}</h3><pre>{{ schema | pretty }}</pre>{% endfor %}
</body></html>"""


@bp.get("/docs")
@operation(tag="docs", auth=False, responses={200: ("text/html", "Human-readable API docs")})
def docs_page() -> str:
    """Human-readable API documentation."""
    spec = openapi_spec()
    groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            groups.setdefault(op.get("tags", ["other"])[0], []).append((path, method, op))
    env = current_app.jinja_env
    env.filters.setdefault("pretty", lambda v: json.dumps(v, indent=2, ensure_ascii=False))
    return render_template_string(_PAGE, spec=spec, groups=sorted(groups.items()))
