"""The auth service's Flask app: ``gunicorn ... 'auth_service.app:create_app()'``."""

from __future__ import annotations

from backdrop_common.app import create_service_app
from backdrop_common.health import health_blueprint, readiness_checks
from backdrop_common.tokens import TokenVerifier
from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from auth_service import resources
from auth_service.blueprints import admin_users, jwks, sessions, users
from auth_service.keys import LocalKeyResolver
from auth_service.resources import Startup
from auth_service.settings import AuthSettings


def create_app(settings: AuthSettings | None = None) -> Flask:
    """Build the auth app for ``settings`` (default: read from ``BACKDROP_*``)."""
    settings = settings or AuthSettings()
    app = create_service_app("auth", settings)
    if settings.proxy_hops > 0:
        # Only behind a known number of proxies may X-Forwarded-For be believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    res = resources.init_app(app, settings)
    # Auth owns the signing keys: a retired key must stop working here at once, so nothing
    # verified earlier is remembered (remember_s=0).
    app.extensions["token_verifier"] = TokenVerifier(
        LocalKeyResolver(res.keys),
        settings.jwt_issuer,
        settings.jwt_audience,
        res.redis,
        remember_s=0,
    )
    startup = Startup(res)
    startup.try_now()

    @app.before_request
    def _started() -> None:
        if request.blueprint != "health":
            startup.ensure()

    def postgres() -> None:
        startup.ensure()  # readiness includes the start-up work, not just a connection
        res.db.ping()

    checks = {"postgres": postgres, **readiness_checks(redis=res.redis)}
    app.register_blueprint(health_blueprint(checks))
    for module in (users, sessions, jwks, admin_users):
        app.register_blueprint(module.bp)
    return app
