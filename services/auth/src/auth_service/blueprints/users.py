"""Accounts: ``POST /v1/auth/register`` and ``GET /v1/auth/me``."""

from __future__ import annotations

import logging

from backdrop_common.auth_schemas import RegisterSchema
from backdrop_common.body import json_body, load
from backdrop_common.errors import Unauthorized
from backdrop_common.tokens import current_principal, require_auth
from flask import Blueprint, Response, jsonify, request

from auth_service import sessions_table, users_table
from auth_service.resources import resources

bp = Blueprint("users", __name__, url_prefix="/v1/auth")
log = logging.getLogger(__name__)


@bp.post("/register")
def register() -> tuple[Response, int]:
    """Create an account with role ``user`` and return it (409 if the username is taken).

    A taken email gets the same 201 as a new one (nothing is stored and nothing is sent), so
    registration cannot be used to learn who has an account.
    """
    data = load(RegisterSchema, json_body())
    ctx = resources()
    ctx.registrations.hit(request.remote_addr or "unknown")
    # Hashed before the insert either way, so a taken email costs the same time.
    password_hash = ctx.passwords.hash(data["password"])
    row = users_table.create_user(
        ctx.db,
        email=data["email"],
        username=data["username"],
        name=data["name"],
        password_hash=password_hash,
    )
    if row is None:
        log.info("registration with a taken email answered as new")
        row = users_table.lookalike(data["email"], data["username"], data["name"])
    else:
        log.info("user registered", extra={"user_id": str(row["id"])})
    return jsonify(users_table.user_json(row)), 201


@bp.get("/me")
@require_auth()
def me() -> Response:
    """The calling user."""
    principal = current_principal()
    ctx = resources()
    # Redis revocation marks already cover this; the DB check also survives a Redis flush.
    row = users_table.get_user(ctx.db, principal.user_id)
    if row is None or row["disabled_at"] or not sessions_table.is_active(ctx.db, principal.sid):
        raise Unauthorized("The token's session is no longer valid.")
    return jsonify(users_table.user_json(row))
