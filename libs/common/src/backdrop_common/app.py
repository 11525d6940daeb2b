"""The Flask app factory every service starts from: errors, request ids, logs, metrics."""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

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
# Any other method a client sends ("FOOBAR" reaches the app as a 405) is counted as "other":
# a label value per made-up method would let one client grow the metrics without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _request_id() -> str:
    # From the environ: werkzeug's header look-up raises (and catches) an exception for a
    # header that is absent, as this one mostly is.
    supplied = request.environ.get("HTTP_X_REQUEST_ID", "")
    return supplied if _REQUEST_ID_RE.match(supplied) else secrets.token_hex(16)


@functools.lru_cache(maxsize=4096)
def _series(service: str, method: str, endpoint: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram of one label set. Finding a labelled series
    (label checks, a lock) cost more than the rest of the request's bookkeeping; the label
    values are bounded (``_METHODS`` or "other", URL rules, status codes), so each set is
    looked up once."""
    return (
        HTTP_REQUESTS.labels(service, method, endpoint, str(status)),
        HTTP_LATENCY.labels(service, method, endpoint),
    )


class ServiceFlask(Flask):
    """Flask that asks once per function whether it is a coroutine function.

    Flask's ``ensure_sync`` asks ``inspect`` again for every hook and view of every request:
    1 % of a task read's CPU for four hooks and one view that never change. The answers are
    kept for the 256 functions used last, so a callback made per request cannot grow it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runnable = functools.lru_cache(maxsize=256)(super().ensure_sync)

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` as Flask would run it (``async_to_sync`` for a coroutine function)."""
        try:
            return self._runnable(func)
        except TypeError:  # an unhashable callable: asked every time
            return super().ensure_sync(func)


def create_service_app(name: str, settings: BaseServiceSettings) -> Flask:
    """Build a Flask app named ``name`` with the shared plumbing wired in."""
    configure_logging(name, settings.log_level)
    tracing.init_tracing(name)
    app = ServiceFlask(name)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_json_body
    app.json = OrjsonProvider(app)
    register_error_handlers(app)
    hardening.init_app(app)
    tracing.instrument_app(app)
    app.wsgi_app = BodyReadTimeout(app.wsgi_app, settings.body_read_timeout_s)  # type: ignore[method-assign]

    @app.before_request
    def _start() -> None:
        state = g._get_current_object()  # one context look-up instead of one per attribute
        state.request_id = _request_id()
        state.request_token = request_id_var.set(state.request_id)
        state.started = time.perf_counter()

    @app.after_request
    def _finish(resp: Response) -> Response:
        state = g._get_current_object()
        req = request._get_current_object()  # type: ignore[attr-defined]
        resp.headers["X-Request-ID"] = state.get("request_id", "")
        endpoint = req.url_rule.rule if req.url_rule else "unmatched"
        method = req.method if req.method in _METHODS else "other"
        counter, latency = _series(name, method, endpoint, resp.status_code)
        counter.inc()
        if "started" in state:
            latency.observe(time.perf_counter() - state.started)
        return resp

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            request_id_var.reset(token)

    return app
