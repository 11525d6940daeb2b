"""``/v1/admin/users``: account administration, forwarded to the auth service (admin role).

Auth owns accounts and checks the role itself; the gateway checks it first as well, so a
non-admin's request never leaves the gateway.
"""

from __future__ import annotations

import uuid

from backdrop_common import auth_schemas
from backdrop_common.tokens import require_auth
from flask import Blueprint, Response, request

from gateway.apidoc import Response as ApiResponse
from gateway.apidoc import operation
from gateway.blueprints.forward import forward
from gateway.resources import resources

bp = Blueprint("admin_users", __name__)
USER = ("user_id",)
ONE_USER: dict[int, ApiResponse] = {
    200: auth_schemas.UserSchema,
    403: None,
    404: None,
    409: None,
    503: None,
}


def _to_auth() -> Response:
    return forward(resources().settings.auth_url, request.path, "auth")


@bp.get("/v1/admin/users")
@operation(
    tag="admin",
    query=auth_schemas.UserListQuerySchema,
    responses={200: auth_schemas.UserListSchema, 400: None, 403: None, 503: None},
)
@require_auth("admin")
def list_users() -> Response:
    """Every account, newest first (admin)."""
    return _to_auth()


@bp.get("/v1/admin/users/<uuid:user_id>")
@operation(tag="admin", path=USER, responses=ONE_USER)
@require_auth("admin")
def get_user(user_id: uuid.UUID) -> Response:
    """One account (admin)."""
    return _to_auth()


@bp.post("/v1/admin/users/<uuid:user_id>/disable")
@operation(tag="admin", path=USER, responses=ONE_USER)
@require_auth("admin")
def disable_user(user_id: uuid.UUID) -> Response:
    """Disable an account: no sign-in, and its tokens stop working at once (admin)."""
    return _to_auth()


@bp.post("/v1/admin/users/<uuid:user_id>/enable")
@operation(tag="admin", path=USER, responses=ONE_USER)
@require_auth("admin")
def enable_user(user_id: uuid.UUID) -> Response:
    """Enable a disabled account (admin)."""
    return _to_auth()


@bp.put("/v1/admin/users/<uuid:user_id>/roles")
@operation(tag="admin", path=USER, body=auth_schemas.RolesSchema, responses={**ONE_USER, 400: None})
@require_auth("admin")
def set_roles(user_id: uuid.UUID) -> Response:
    """Set an account's roles; taking one away signs the account out (admin)."""
    return _to_auth()
