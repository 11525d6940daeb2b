"""``/healthz``, ``/readyz`` (PostgreSQL and Redis checks) and ``/metrics``."""

from __future__ import annotations

from backdrop_testing.infra import dsn_for, free_port


def test_healthz_and_metrics(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    client.get("/v1/auth/me")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert b"backdrop_http_requests_total" in metrics.data


def test_readyz_with_real_dependencies(client) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


def test_readyz_postgres_down(make_app) -> None:
    dead = f"postgresql://127.0.0.1:{free_port()}/backdrop"
    app = make_app(database_url=dead)
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["postgres"] != "ok" and body["checks"]["redis"] == "ok"
    assert "127.0.0.1" not in resp.get_data(as_text=True)
    # Requests needing the database get a 503 problem, not a crash.
    resp = client.post("/v1/auth/login", json={"identifier": "a", "password": "b"})
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "unavailable"
    assert client.get("/healthz").status_code == 200


def test_readyz_postgres_database_missing(make_app) -> None:
    app = make_app(database_url=dsn_for("backdrop_no_such_database_here"))
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["postgres"] != "ok"


def test_readyz_redis_down(make_app) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"] == {
        "postgres": "ok",
        "redis": resp.get_json()["checks"]["redis"],
    }
    assert resp.get_json()["checks"]["redis"] != "ok"
    # Login fails closed (no throttling without Redis) with a 503 problem.
    resp = client.post("/v1/auth/login", json={"identifier": "a", "password": "b"})
    assert resp.status_code == 503
    assert resp.get_json()["code"] == "unavailable"
