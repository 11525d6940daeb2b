"""The shared app factory: problem+json for every error, request ids, health endpoints."""

from __future__ import annotations

import json
import logging

import pytest
from backdrop_common.app import create_service_app
from backdrop_common.config import BaseServiceSettings
from backdrop_common.errors import RateLimited, ValidationFailed
from backdrop_common.health import health_blueprint
from flask import Flask, Response


def _boom() -> None:
    raise RuntimeError("password=hunter2 at db.internal:5432")


@pytest.fixture
def app() -> Flask:
    app = create_service_app("demo", BaseServiceSettings(env="test", max_json_body=1024))

    @app.post("/echo")
    def echo() -> dict[str, object]:
        from flask import request

        return {"got": request.get_json()}

    @app.get("/boom")
    def boom() -> None:
        _boom()

    @app.get("/limited")
    def limited() -> None:
        raise RateLimited(retry_after=7)

    @app.get("/invalid")
    def invalid() -> None:
        raise ValidationFailed(errors={"name": ["Missing data."]})

    def failing() -> None:
        raise ConnectionError("db.internal refused")

    app.register_blueprint(health_blueprint({"ok": lambda: None, "db": failing}))
    return app


def _problem(resp: object) -> dict[str, object]:
    assert resp.content_type == "application/problem+json"  # type: ignore[attr-defined]
    doc: dict[str, object] = json.loads(resp.data)  # type: ignore[attr-defined]
    assert {"type", "title", "status", "detail", "code"} <= doc.keys()
    assert doc["status"] == resp.status_code  # type: ignore[attr-defined]
    return doc


def test_unknown_route_is_problem_404(app: Flask) -> None:
    resp = app.test_client().get("/nope")
    assert resp.status_code == 404
    assert _problem(resp)["code"] == "not_found"


def test_wrong_method_is_problem_405_with_allow(app: Flask) -> None:
    resp = app.test_client().get("/echo")
    assert resp.status_code == 405
    assert _problem(resp)["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]


def test_malformed_json_is_400(app: Flask) -> None:
    resp = app.test_client().post("/echo", data=b"{not json", content_type="application/json")
    assert resp.status_code == 400
    assert _problem(resp)["code"] == "validation_error"


def test_oversized_body_is_413(app: Flask) -> None:
    resp = app.test_client().post("/echo", data=b"x" * 4096, content_type="application/json")
    assert resp.status_code == 413
    assert _problem(resp)["code"] == "payload_too_large"


def test_unexpected_exception_hides_internals(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        resp = app.test_client().get("/boom")
    assert resp.status_code == 500
    body = resp.get_data(as_text=True)
    assert _problem(resp)["code"] == "internal_error"
    assert "hunter2" not in body and "db.internal" not in body and "Traceback" not in body
    assert any("unhandled" in r.message for r in caplog.records)


def test_rate_limited_carries_retry_after(app: Flask) -> None:
    resp = app.test_client().get("/limited")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "7"


def test_validation_errors_listed_per_field(app: Flask) -> None:
    resp = app.test_client().get("/invalid")
    assert _problem(resp)["errors"] == {"name": ["Missing data."]}


def test_request_id_honoured_or_generated(app: Flask) -> None:
    client = app.test_client()
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    generated = client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert len(generated.headers["X-Request-ID"]) == 32


def test_readyz_names_failing_check_without_internals(app: Flask) -> None:
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    doc = resp.get_json()
    assert doc["checks"]["ok"] == "ok"
    assert doc["checks"]["db"].startswith("error")
    assert "db.internal" not in resp.get_data(as_text=True)


def test_metrics_exposes_request_counts(app: Flask) -> None:
    client = app.test_client()
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    assert "backdrop_http_requests_total" in text
    assert 'endpoint="/healthz"' in text


def test_made_up_methods_share_one_metric_series(app: Flask) -> None:
    # Each method a client invents must not become a label value of its own: a loop of
    # random methods would grow /metrics (and Prometheus) without bound.
    client = app.test_client()
    for method in ("FOOBAR", "BAZQUX"):
        assert client.open("/healthz", method=method).status_code == 405
    text = client.get("/metrics").get_data(as_text=True)
    assert "FOOBAR" not in text and "BAZQUX" not in text
    counted = [
        line
        for line in text.splitlines()
        if line.startswith("backdrop_http_requests_total{")
        and 'method="other"' in line
        and 'service="demo"' in line
        and 'status="405"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 2


def test_hooks_made_per_request_run_on_every_request(app: Flask) -> None:
    # The app remembers which functions are coroutine functions; a callback made anew for
    # each request (after_this_request) must still run, every time.
    from flask import after_this_request

    @app.get("/stamped/<int:n>")
    def stamped(n: int) -> dict[str, int]:
        @after_this_request
        def stamp(resp: Response) -> Response:
            resp.headers["X-Stamp"] = str(n)  # this request's own callback, not a kept one
            return resp

        return {"ok": 1}

    client = app.test_client()
    for n in range(300):  # more than the functions it remembers
        assert client.get(f"/stamped/{n}").headers["X-Stamp"] == str(n)
