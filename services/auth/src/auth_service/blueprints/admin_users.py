"""User administration (admin role): ``/v1/admin/users``: list, disable/enable, roles.

Disabling an account, or taking a role away, revokes every session of the user the way
logout revokes one (sessions in PostgreSQL, session marks in Redis): their access tokens
stop working at once. A granted role arrives with the user's next refresh or login.
"""

from __future__ import annotations

import logging
import uuid

from backdrop_common.auth_schemas import RolesSchema, UserListQuerySchema
from backdrop_common.body import json_body, load
from backdrop_common.errors import Conflict, NotFound
from backdrop_common.pagination import decode_cursor, encode_cursor
from backdrop_common.tokens import current_principal, require_auth
from flask import Blueprint, Response, jsonify, request

from auth_service import revocation, sessions_table, users_table
from auth_service.resources import resources

bp = Blueprint("admin_users", __name__, url_prefix="/v1/admin/users")
log = logging.getLogger(__name__)


@bp.get("")
@require_auth("admin")
def list_users() -> Response:
    """Every account, newest first (cursor pagination)."""
    query = load(UserListQuerySchema, request.args.to_dict())
    after = decode_cursor(query["cursor"]) if query["cursor"] else None
    rows = users_table.list_users(resources().db, limit=query["limit"] + 1, after=after)
    next_cursor = None
    if len(rows) > query["limit"]:
        rows = rows[: query["limit"]]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
    return jsonify(items=[users_table.user_json(r) for r in rows], next_cursor=next_cursor)


@bp.get("/<uuid:user_id>")
@require_auth("admin")
def get_user(user_id: uuid.UUID) -> Response:
    """One account."""
    row = users_table.get_user(resources().db, user_id)
    if row is None:
        raise NotFound("No such user.")
    return jsonify(users_table.user_json(row))


def _not_self(user_id: uuid.UUID, action: str) -> None:
    # An admin locking themselves out could leave nobody able to undo it.
    if user_id == current_principal().user_id:
        raise Conflict(f"You cannot {action} your own account.")


def _revoke_sessions(user_id: uuid.UUID, reason: str) -> None:
    ctx = resources()
    sids = sessions_table.revoke_all(ctx.db, user_id, reason)
    if sids:
        revocation.revoke(ctx.redis, ctx.settings.access_token_ttl, sids=tuple(sids))
    log.info("sessions revoked", extra={"user_id": str(user_id), "sessions": len(sids)})


@bp.post("/<uuid:user_id>/disable")
@require_auth("admin")
def disable_user(user_id: uuid.UUID) -> Response:
    """Disable an account: it cannot sign in, and its tokens stop working at once."""
    _not_self(user_id, "disable")
    row = users_table.set_disabled(resources().db, user_id, True)
    if row is None:
        raise NotFound("No such user.")
    _revoke_sessions(user_id, "disabled")
    return jsonify(users_table.user_json(row))


@bp.post("/<uuid:user_id>/enable")
@require_auth("admin")
def enable_user(user_id: uuid.UUID) -> Response:
    """Enable a disabled account (it signs in again; old sessions stay revoked)."""
    row = users_table.set_disabled(resources().db, user_id, False)
    if row is None:
        raise NotFound("No such user.")
    return jsonify(users_table.user_json(row))


@bp.put("/<uuid:user_id>/roles")
@require_auth("admin")
def set_roles(user_id: uuid.UUID) -> Response:
    """Replace an account's roles (``user`` is always kept); removing one signs it out."""
    data = load(RolesSchema, json_body())
    if "admin" not in data["roles"]:
        _not_self(user_id, "take the admin role from")
    changed = users_table.set_roles(resources().db, user_id, data["roles"])
    if changed is None:
        raise NotFound("No such user.")
    row, removed = changed
    if removed:
        _revoke_sessions(user_id, "roles_changed")
    log.info("roles set", extra={"user_id": str(user_id), "roles": row["roles"]})
    return jsonify(users_table.user_json(row))
