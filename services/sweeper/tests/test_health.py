"""The sweeper's health app: ``/readyz`` pings each store it uses."""

from __future__ import annotations

from sweeper.resources import Resources, resources
from sweeper.service import create_app
from sweeper.settings import SweeperSettings


def _readyz(settings: SweeperSettings) -> tuple[int, dict[str, object]]:
    app = create_app(settings)
    with app.app_context():
        res: Resources = resources()
    try:
        answer = app.test_client().get("/readyz")
        assert answer.json is not None
        return answer.status_code, answer.json
    finally:
        res.close()


def test_readyz_names_each_store_and_fails_when_one_is_down(settings: SweeperSettings) -> None:
    status, body = _readyz(settings)
    assert status == 200
    assert body == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok", "s3": "ok"}}
    # Nothing listens on port 1: Redis is down, the others still answer.
    status, body = _readyz(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["redis"] != "ok" and checks["postgres"] == "ok" and checks["s3"] == "ok"
