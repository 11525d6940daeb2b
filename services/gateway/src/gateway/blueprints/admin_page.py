"""The operators' dashboard: ``/admin`` and its static assets (``/admin/assets/<file>``).

A static page with a little JavaScript: it signs in through ``/v1/auth/login`` with the same
accounts, then polls the ``/v1/admin/*`` API with the bearer token every few seconds. The
page itself holds no data, so it needs no token; every figure comes from routes that check
the operator role. Nothing is loaded from elsewhere (no CDN), and the Content Security
Policy allows only this origin's files, no inline script.
"""

from __future__ import annotations

from importlib import resources

from backdrop_common.errors import NotFound
from flask import Blueprint, Response

from gateway.apidoc import operation

bp = Blueprint("admin_page", __name__)
ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _static(name: str) -> bytes:
    return resources.files("gateway").joinpath("static", name).read_bytes()


def _respond(body: bytes, mimetype: str, max_age: int) -> Response:
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-cache"
    return resp


@bp.get("/admin")
@operation(tag="admin", auth=False, responses={200: ("text/html", "The dashboard page")})
def dashboard() -> Response:
    """The operators' dashboard (sign in with an operator or admin account)."""
    return _respond(_static("index.html"), "text/html", 0)


@bp.get("/admin/assets/<name>")
@operation(
    tag="admin",
    auth=False,
    path=(("name", {"type": "string", "enum": sorted(ASSETS)}),),
    responses={
        200: (tuple(sorted(set(ASSETS.values()))), "A script or style sheet of the dashboard"),
        404: None,
    },
)
def asset(name: str) -> Response:
    """A static file of the dashboard."""
    if name not in ASSETS:
        raise NotFound("No such asset.")
    return _respond(_static(name), ASSETS[name], 300)
