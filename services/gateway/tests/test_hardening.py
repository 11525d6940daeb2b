"""The gateway trusts no Host header and sends the protective headers a browser needs."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api, task_body

EVIL = {"Host": "evil.example"}


def test_absolute_urls_come_from_configuration_not_the_host_header(api: Api) -> None:
    # /task/request answered upload_url=http://evil.example/... for a client that said so.
    seed = api.post("/task/request", json={"task_type": "checksum", "size": 3}, headers=EVIL)
    assert seed.status_code == 201, seed.get_data(as_text=True)
    assert seed.get_json()["upload_url"].startswith("http://gateway.test/task/upload/")
    created = api.post("/v1/tasks", json=task_body(), headers=EVIL)
    assert created.status_code == 201
    assert "evil" not in created.get_data(as_text=True)


def test_double_slashes_do_not_redirect_to_the_host_header(api: Api) -> None:
    # /v1/auth//me redirected to http://evil.example/v1/auth/me.
    for path in ("/v1/auth//me", "//v1/tasks", "/v1//tasks"):
        resp = api.get(path, headers=EVIL)
        assert not 300 <= resp.status_code < 400, (path, resp.status_code)
        assert "Location" not in resp.headers
        assert resp.mimetype == "application/problem+json"


def test_every_answer_is_nosniff_and_user_data_is_not_cached(api: Api) -> None:
    task = api.new_task()
    for resp in (
        api.get(f"/v1/tasks/{task['id']}"),
        api.get("/v1/tasks"),
        api.get("/v1/tasks/00000000-0000-4000-8000-000000000000"),
        api.get("/healthz"),
    ):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == "no-store"


def test_docs_page_has_a_strict_policy_and_cannot_be_framed(client: Any) -> None:
    resp = client.get("/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    policy = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    # Swagger UI runs scripts, but only this origin's files: no inline script, no eval.
    assert "script-src 'self';" in policy
    assert "unsafe-eval" not in policy and "http" not in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_readiness_details_only_for_operators(client: Any, token_minter: Any) -> None:
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 200
    assert anonymous.get_json() == {"status": "ready"}
    user = client.get("/readyz", headers={"Authorization": f"Bearer {token_minter.mint()}"})
    assert user.get_json() == {"status": "ready"}
    operator_token = token_minter.mint(roles=("user", "operator"))
    operator = client.get("/readyz", headers={"Authorization": f"Bearer {operator_token}"})
    assert set(operator.get_json()["checks"]) == {"postgres", "redis", "auth", "upload"}
