"""The gateway app factory: ``gateway.app:create_app`` (gunicorn: ``gateway.wsgi:app``)."""

from __future__ import annotations

from collections.abc import Callable

from backdrop_common.app import create_service_app
from backdrop_common.errors import BackdropError
from backdrop_common.fleet_metrics import FleetCollector
from backdrop_common.health import health_blueprint, readiness_checks
from backdrop_common.revocation_watch import RevocationWatch
from backdrop_common.taskstore import migrate_tasks
from backdrop_common.tokens import JWKSKeyResolver, TokenVerifier, bearer_token
from flask import Flask, current_app

from gateway import clients, observability, resources, ws
from gateway.blueprints import (
    admin_fleet,
    admin_page,
    admin_tasks,
    admin_users,
    aliases,
    docs,
    forward,
    processors,
    sse,
    tasks,
    webhooks,
)
from gateway.livecap import LiveStreamCap
from gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings | None = None) -> Flask:
    """Build the gateway: resources, token verification, the tasks schema, every route."""
    settings = settings or GatewaySettings()
    app = create_service_app("gateway", settings)
    res = resources.init_app(app, settings)
    # The gateway owns task records, so it brings the schema up to date before serving
    # (unless the owner's one-shot migration did, and this role may not: BACKDROP_MIGRATE_ON_START).
    if settings.migrate_on_start:
        migrate_tasks(res.db)
    app.extensions["live_streams"] = LiveStreamCap(res.redis, settings)
    app.extensions["token_verifier"] = TokenVerifier(
        JWKSKeyResolver(f"{settings.auth_url}/.well-known/jwks.json"),
        settings.jwt_issuer,
        settings.jwt_audience,
        res.redis,
        revocations=RevocationWatch(res.redis),
    )
    for module in (tasks, processors, sse, webhooks, forward, aliases, docs):
        app.register_blueprint(module.bp)
    ws.init_app(app, settings)
    for module in (admin_fleet, admin_tasks, admin_users, admin_page):
        app.register_blueprint(module.bp)
    checks = readiness_checks(postgres=res.db, redis=res.redis)
    # What the gateway needs from auth is its key set (every token check uses it).
    checks["auth"] = _probe(app, f"{settings.auth_url}/.well-known/jwks.json")
    checks["upload"] = _probe(app, f"{settings.upload_url}/healthz")
    app.register_blueprint(
        health_blueprint(
            checks,
            details=_operator_asking,
            metrics_guard=observability.metrics_guard,
            collectors=[FleetCollector(res.redis, res.db)],
        )
    )
    return app


def _operator_asking() -> bool:
    """True when the request carries a valid token of an operator (or admin): only they see
    which of ``/readyz``'s checks fail."""
    try:
        principal = current_app.extensions["token_verifier"].verify(bearer_token())
    except BackdropError:
        return False
    return bool(principal.has_role("operator"))


def _probe(app: Flask, url: str) -> Callable[[], None]:
    """A readiness check for a service; it runs in a pool thread, so it pushes a context."""

    def check() -> None:
        with app.app_context():
            clients.probe(url)

    return check
