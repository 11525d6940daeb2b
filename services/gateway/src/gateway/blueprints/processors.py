"""``GET /v1/processors``: the processor catalogue."""

from __future__ import annotations

from backdrop_common import catalogue
from backdrop_common.tokens import require_auth
from flask import Blueprint, Response, jsonify

from gateway import schemas
from gateway.apidoc import operation
from gateway.resources import resources

bp = Blueprint("processors", __name__)


@bp.get("/v1/processors")
@operation(tag="processors", responses={200: schemas.ProcessorListSchema})
@require_auth()
def list_processors() -> Response:
    """List the processors a task can use, with their parameter schemas."""
    return jsonify(items=catalogue.listing(resources().redis))
