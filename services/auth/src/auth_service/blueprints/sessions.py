"""Sessions: ``POST /v1/auth/login``, ``/refresh`` and ``/logout``."""

from __future__ import annotations

import logging

from backdrop_common.auth_schemas import LoginSchema, LogoutSchema, RefreshSchema
from backdrop_common.body import json_body, load
from backdrop_common.errors import Forbidden, Unauthorized
from backdrop_common.tokens import current_principal, require_auth
from flask import Blueprint, Response, jsonify, request

from auth_service import revocation, sessions_table, users_table
from auth_service.issuer import access_token, token_response
from auth_service.ratelimit import Attempt
from auth_service.resources import resources

bp = Blueprint("sessions", __name__, url_prefix="/v1/auth")
log = logging.getLogger(__name__)


def _tokens(body: dict[str, object]) -> Response:
    resp = jsonify(body)
    # Token responses must never sit in a cache (RFC 6749 section 5.1).
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/login")
def login() -> Response:
    """Exchange an identifier (email or username) and password for a token pair."""
    data = load(LoginSchema, json_body())
    ctx = resources()
    ip = request.remote_addr or "unknown"
    identifier = data["identifier"]
    user = users_table.find_for_login(ctx.db, identifier)
    # Counted per account (email and username alike), per address and per pair.
    attempt = Attempt.of(user["id"] if user else None, identifier, ip)
    ctx.throttle.check(attempt)
    stored = user["password_hash"] if user else None
    # Verify before looking at ``user``: ``user is None or not verify(...)`` skipped the
    # dummy hash for unknown accounts, and the time saved told which accounts exist.
    verified = ctx.passwords.verify(stored, data["password"])
    if user is None or not verified:
        ctx.throttle.failed(attempt)
        log.info("login failed", extra={"client_ip": ip})
        raise Unauthorized("The identifier or the password is wrong.")
    ctx.throttle.succeeded(attempt)
    if user["disabled_at"] is not None:
        # Told only to someone who knows the password: no account enumeration.
        raise Forbidden("This account is disabled.")
    if ctx.passwords.needs_rehash(user["password_hash"]):
        users_table.set_password_hash(ctx.db, user["id"], ctx.passwords.hash(data["password"]))
    settings = ctx.settings
    session_id, refresh = sessions_table.start_session(
        ctx.db,
        user["id"],
        request.user_agent.string,
        ip,
        min(settings.refresh_token_ttl, settings.session_max_age_s),
    )
    access = access_token(
        ctx.keys,
        settings,
        user_id=user["id"],
        session_id=session_id,
        roles=user["roles"],
        revocations=ctx.redis,
    )
    log.info("login", extra={"user_id": str(user["id"]), "session_id": session_id})
    return _tokens(token_response(access, refresh, settings))


@bp.post("/refresh")
def refresh() -> Response:
    """Rotate a refresh token; a reused one revokes its whole session (401)."""
    data = load(RefreshSchema, json_body())
    ctx = resources()
    settings = ctx.settings
    rotation = sessions_table.rotate(
        ctx.db,
        data["refresh_token"],
        settings.refresh_token_ttl,
        grace_s=settings.refresh_reuse_grace_s,
        max_age_s=settings.session_max_age_s,
    )
    if rotation.outcome == "reused" and rotation.session_id:
        # The family's access tokens must stop working too, not just its refresh tokens.
        revocation.revoke(ctx.redis, settings.access_token_ttl, sids=(rotation.session_id,))
        log.warning("refresh token reused", extra={"session_id": rotation.session_id})
    if rotation.outcome != "ok" or rotation.session_id is None or rotation.refresh_token is None:
        raise Unauthorized("The refresh token is not valid.")
    access = access_token(
        ctx.keys,
        settings,
        user_id=rotation.user["id"],
        session_id=rotation.session_id,
        roles=rotation.user["roles"],
        revocations=ctx.redis,
    )
    return _tokens(token_response(access, rotation.refresh_token, settings))


@bp.post("/logout")
@require_auth()
def logout() -> tuple[str, int]:
    """Revoke the caller's session (and the session of ``refresh_token`` if it is theirs)."""
    data = load(LogoutSchema, json_body(allow_empty=True))
    ctx = resources()
    principal = current_principal()
    sids = [principal.sid]
    if data["refresh_token"]:
        other = sessions_table.session_of(ctx.db, data["refresh_token"], principal.user_id)
        if other is not None and other != principal.sid:
            sids.append(other)
    # Redis first: once it answers, every verifier rejects the access token at once.
    revocation.revoke(ctx.redis, ctx.settings.access_token_ttl, sids=tuple(sids), jti=principal.jti)
    for sid in sids:
        sessions_table.revoke(ctx.db, sid, principal.user_id, "logout")
    log.info("logout", extra={"user_id": str(principal.user_id)})
    return "", 204
