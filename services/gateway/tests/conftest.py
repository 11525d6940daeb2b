"""Fixtures: a gateway app on real PostgreSQL/Redis/S3, tokens from the test issuer, a
stub upload service (the e2e suite runs the real chain), and the gateway under gunicorn."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from backdrop_testing.plugin import LiveServer
from backdrop_testing.tokens import TokenMinter
from flask import Flask, Response, jsonify, request
from flask.testing import FlaskClient
from gateway.app import create_app
from gateway.settings import GatewaySettings

from tests.helpers import Api, Gunicorns


@dataclass
class Upstream:
    """A stub upstream service recording what reached it."""

    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)


def stub_upload_app(calls: list[dict[str, Any]]) -> Flask:
    """Serves the upload service's routes the gateway uses, echoing what it received."""
    app = Flask("stub-upload")

    def record() -> dict[str, Any]:
        body = request.get_data()
        entry = {
            "method": request.method,
            "path": request.full_path.rstrip("?"),
            "headers": dict(request.headers),
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        calls.append(entry)
        return entry

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.post("/internal/tasks/<task_id>/upload-instructions")
    def instructions(task_id: str) -> Response:
        record()
        return jsonify(
            upload={
                "method": "POST",
                "url": "http://s3.invalid/bucket",
                "fields": {"key": f"k/{task_id}"},
                "expires_at": "2030-01-01T00:00:00Z",
                "stream_url": f"/v1/tasks/{task_id}/content",
            }
        )

    @app.route("/v1/tasks/<task_id>/<action>", methods=["POST", "PUT"])
    @app.route("/task/upload/<task_id>", methods=["POST"], defaults={"action": "seed"})
    def echo(task_id: str, action: str) -> Response:
        entry = record()
        resp = Response(
            json.dumps({"task": {"id": task_id}, "echo": entry}),
            status=202,
            mimetype="application/json",
        )
        resp.headers["X-Upstream"] = "upload"
        resp.headers.add("Set-Cookie", "a=1")
        resp.headers.add("Set-Cookie", "b=2")
        return resp

    return app


@pytest.fixture(scope="session")
def _upload_server() -> Iterator[Upstream]:
    calls: list[dict[str, Any]] = []
    server = LiveServer(stub_upload_app(calls))
    yield Upstream(server.url, calls)
    server.stop()


@pytest.fixture
def upload_stub(_upload_server: Upstream) -> Upstream:
    """A running stub of the upload service (its call log emptied for each test)."""
    _upload_server.calls.clear()
    return _upload_server


@pytest.fixture(scope="session")
def upload_url(
    infra_env: dict[str, str], token_minter: TokenMinter, _upload_server: Upstream
) -> Iterator[str]:
    """The real upload service on a live server (the stub if it cannot be imported)."""
    try:
        from upload_service.app import create_app as create_upload_app
        from upload_service.settings import UploadSettings
    except ImportError:
        yield _upload_server.url
        return
    upload_settings = UploadSettings(
        env="test",
        database_url=infra_env["BACKDROP_DATABASE_URL"],
        redis_url=infra_env["BACKDROP_REDIS_URL"],
        s3_endpoint_url=infra_env["BACKDROP_S3_ENDPOINT_URL"],
        s3_bucket="gateway-tests",
        auth_url=token_minter.base_url,  # type: ignore[attr-defined]
        public_url="http://gateway.test",
    )
    server = LiveServer(create_upload_app(upload_settings))
    yield server.url
    server.stop()


@pytest.fixture
def settings(
    infra_env: dict[str, str], token_minter: TokenMinter, upload_url: str, redis_client: Any
) -> GatewaySettings:
    """Gateway settings on this session's servers (Redis flushed per test)."""
    return GatewaySettings(
        env="test",
        database_url=infra_env["BACKDROP_DATABASE_URL"],
        redis_url=infra_env["BACKDROP_REDIS_URL"],
        s3_endpoint_url=infra_env["BACKDROP_S3_ENDPOINT_URL"],
        s3_bucket="gateway-tests",
        auth_url=token_minter.base_url,  # type: ignore[attr-defined]
        upload_url=upload_url,
        sse_keepalive_s=0.5,
        sse_block_ms=200,
        sse_max_duration_s=20,
        sse_row_check_s=1.0,
        public_url="http://gateway.test",
        max_unfinished_tasks=20,
    )


@pytest.fixture
def make_app(settings: GatewaySettings) -> Callable[..., Flask]:
    """Factory: a gateway app with ``settings`` changed by keyword arguments."""

    def make(**changes: Any) -> Flask:
        app = create_app(settings.model_copy(update=changes))
        app.testing = True
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The gateway app."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the gateway."""
    return app.test_client()


@pytest.fixture
def make_api(client: FlaskClient, token_minter: TokenMinter) -> Callable[..., Api]:
    """Factory: a new user (own id and token, ``roles`` default user) on the gateway."""
    return lambda roles=("user",): Api(client, token_minter, roles)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    """A signed-in user."""
    return make_api()


@pytest.fixture
def db(settings: GatewaySettings) -> Iterator[Any]:
    """The task database (to drive tasks through states the way other services would)."""
    from backdrop_common.db import Database

    database = Database(settings.database_url)
    yield database
    database.close()


@pytest.fixture
def start_gunicorn(settings: Any, tmp_path: Path) -> Iterator[Gunicorns]:
    """Factory: ``start_gunicorn(**env)`` serves the gateway under gunicorn; see ``Gunicorns``."""
    servers = Gunicorns(settings, tmp_path)
    yield servers
    servers.stop()


@pytest.fixture
def gunicorn_gateway(start_gunicorn: Gunicorns) -> str:
    """One gevent worker with room for many streams from one user (the stream caps have
    their own test)."""
    return start_gunicorn(
        BACKDROP_LIVE_STREAMS_PER_USER="1000", BACKDROP_LIVE_STREAMS_PER_ADDRESS="1000"
    )
