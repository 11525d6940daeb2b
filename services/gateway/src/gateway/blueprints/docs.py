"""``/openapi.json`` and ``/docs``: the API description, generated from the same schemas.

``/docs`` is Swagger UI from the flask-swagger-ui package, served by the gateway itself:
no CDN, since the machines that run Backdrop may have no internet access at all.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import flask_swagger_ui
from apispec import APISpec
from backdrop_common import auth_schemas
from backdrop_common.errors import NotFound
from flask import Blueprint, Response, current_app, jsonify

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


DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "docs.js": "text/javascript",
}
# Swagger UI's own files come from the flask-swagger-ui package (its dist/, Swagger UI 5:
# OpenAPI 3.1); only the page and its
# start-up script are ours. No inline script, nothing from another origin.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def _docs_file(name: str) -> bytes:
    if name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        return (Path(flask_swagger_ui.__file__).parent / "dist" / name).read_bytes()
    return resources.files("gateway").joinpath("docs_static", name).read_bytes()


def _docs_response(body: bytes, mimetype: str, max_age: int) -> Response:
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Security-Policy"] = DOCS_CSP
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-cache"
    return resp


@bp.get("/docs")
@operation(tag="docs", auth=False, responses={200: ("text/html", "Interactive API docs")})
def docs_page() -> Response:
    """Interactive API documentation (Swagger UI): every operation, resolved schemas,
    examples, and "try it out" after "Authorize" with an access token."""
    return _docs_response(_docs_file("index.html"), "text/html", 0)


@bp.get("/docs/assets/<name>")
@operation(
    tag="docs",
    auth=False,
    path=(("name", {"type": "string", "enum": sorted(DOCS_ASSETS)}),),
    responses={
        200: (tuple(sorted(set(DOCS_ASSETS.values()))), "A script or style sheet of /docs"),
        404: None,
    },
)
def docs_asset(name: str) -> Response:
    """A file of the docs page (Swagger UI's, bundled with the gateway)."""
    if name not in DOCS_ASSETS:
        raise NotFound("No such file.")
    return _docs_response(_docs_file(name), DOCS_ASSETS[name], 3600)
