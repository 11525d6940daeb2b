"""The Flask app factory every service starts from: errors, request ids, logs, metrics."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from backdrop_common import hardening, tracing
from backdrop_common.body_timeout import BodyReadTimeout
from backdrop_common.config import BaseServiceSettings
from backdrop_common.errors import register_error_handlers
from backdrop_common.json_provider import OrjsonProvider
from backdrop_common.logs import configure_logging, request_id_var
from backdrop_common.metrics import HTTP_LATENCY, HTTP_REQUESTS

# A client-supplied request id is echoed into logs, so keep it short and printable.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _request_id() -> str:
    supplied = request.headers.get("X-Request-ID", "")
    return supplied if _REQUEST_ID_RE.match(supplied) else uuid.uuid4().hex


def create_service_app(name: str, settings: BaseServiceSettings) -> Flask:
    """Build a Flask app named ``name`` with the shared plumbing wired in."""
    configure_logging(name, settings.log_level)
    tracing.init_tracing(name)
    app = Flask(name)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_json_body
    app.json = OrjsonProvider(app)
    register_error_handlers(app)
    hardening.init_app(app)
    tracing.instrument_app(app)
    app.wsgi_app = BodyReadTimeout(app.wsgi_app, settings.body_read_timeout_s)  # type: ignore[method-assign]

    @app.before_request
    def _start() -> None:
        g.request_id = _request_id()
        g.request_token = request_id_var.set(g.request_id)
        g.started = time.perf_counter()

    @app.after_request
    def _finish(resp: Response) -> Response:
        resp.headers["X-Request-ID"] = g.get("request_id", "")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(name, request.method, endpoint, str(resp.status_code)).inc()
        if "started" in g:
            HTTP_LATENCY.labels(name, request.method, endpoint).observe(
                time.perf_counter() - g.started
            )
        return resp

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            request_id_var.reset(token)

    return app
