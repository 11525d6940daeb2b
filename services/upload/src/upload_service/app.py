"""The upload service: presigned instructions, streamed uploads, upload verification.

Run: ``gunicorn -c python:backdrop_common.gunicorn_conf 'upload_service.app:create_app()'``.
"""

from __future__ import annotations

from backdrop_common import taskstore
from backdrop_common.app import create_service_app
from backdrop_common.health import health_blueprint
from backdrop_common.tokens import JWKSKeyResolver, TokenVerifier
from flask import Flask

from upload_service import resources
from upload_service.blueprints import streaming, uploads
from upload_service.resources import Resources
from upload_service.settings import UploadSettings


def prepare(res: Resources) -> None:
    """Start-up work: schema migrations, and the bucket in development/test."""
    if res.settings.migrate_on_start:
        taskstore.migrate_tasks(res.db)
    if res.settings.should_ensure_bucket:
        res.storage.ensure_bucket()


def create_app(settings: UploadSettings | None = None) -> Flask:
    """Build the upload service app (``settings`` default: from the environment)."""
    settings = settings or UploadSettings()
    app = create_service_app("upload", settings)
    res = resources.init_app(app, settings)
    prepare(res)
    app.extensions["token_verifier"] = TokenVerifier(
        JWKSKeyResolver(f"{settings.auth_url.rstrip('/')}/.well-known/jwks.json"),
        settings.jwt_issuer,
        settings.jwt_audience,
        res.redis,
    )
    for module in (uploads, streaming):
        app.register_blueprint(module.bp)
    app.register_blueprint(health_blueprint(res.checks()))
    return app
