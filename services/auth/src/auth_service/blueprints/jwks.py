"""The public signing keys: ``GET /.well-known/jwks.json``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from auth_service.resources import resources

bp = Blueprint("jwks", __name__)


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Every key whose tokens may still be valid (the active one first)."""
    resp = jsonify(keys=resources().keys.jwks())
    resp.headers["Cache-Control"] = "public, max-age=60"
    return resp
