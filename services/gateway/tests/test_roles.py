"""Who may call what: every gateway route and every role (403 problem+json below the line).

``EXPECTED`` is the table of record: a new route fails ``test_every_route_is_in_the_table``
until someone decides who may call it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from backdrop_common.tokens import ROLES, has_role
from backdrop_testing.tokens import TokenMinter
from flask import Flask

PUBLIC = None
# endpoint -> the lowest role that may call it (PUBLIC: no token needed).
EXPECTED: dict[str, str | None] = {
    "tasks.create_task": "user",
    "tasks.list_tasks": "user",
    "tasks.get_task": "user",
    "tasks.cancel_task": "user",
    "tasks.task_result": "user",
    "events.task_events": "user",
    "events.user_events": "user",
    "webhooks.create_webhook": "user",
    "webhooks.list_webhooks": "user",
    "webhooks.delete_webhook": "user",
    "webhooks.rotate_webhook_secret": "user",
    "webhooks.webhook_deliveries": "user",
    "webhooks.task_deliveries": "user",
    "ws.task_ws": "user",  # WebSocket routes: HTTP calls are not tried (see test_ws)
    "ws.user_ws": "user",
    "processors.list_processors": "user",
    "forward.upload_complete": "user",
    "forward.upload_content": "user",
    "forward.seed_upload": "user",
    "aliases.seed_request": "user",
    "aliases.seed_status": "user",
    "aliases.seed_cancel": "user",
    "aliases.seed_result": "user",
    "admin_fleet.get_queues": "operator",
    "admin_fleet.get_workers": "operator",
    "admin_tasks.search": "operator",
    "admin_tasks.get_any_task": "operator",
    "admin_tasks.dead_letters": "operator",
    "admin_tasks.bulk_retry": "operator",
    "admin_tasks.bulk_cancel": "operator",
    "health.metrics": "operator",  # or Prometheus' scrape token (test_metrics.py)
    "admin_users.list_users": "admin",
    "admin_users.get_user": "admin",
    "admin_users.disable_user": "admin",
    "admin_users.enable_user": "admin",
    "admin_users.set_roles": "admin",
    # Public: sign-in (auth checks its own routes), keys, docs, health, the static files.
    "aliases.seed_login": PUBLIC,
    "forward.auth_proxy": PUBLIC,
    "forward.jwks": PUBLIC,
    "docs.openapi_json": PUBLIC,
    "docs.docs_page": PUBLIC,
    "docs.docs_asset": PUBLIC,
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    "static": PUBLIC,
    "admin_page.dashboard": PUBLIC,  # the page holds no data; its API calls need the role
    "admin_page.asset": PUBLIC,
}


def _calls(app: Flask) -> list[tuple[str, str, str]]:
    """``(endpoint, method, concrete path)`` for every route of the app."""
    calls = []
    for rule in app.url_map.iter_rules():
        if rule.websocket:
            continue
        path = re.sub(r"<uuid:[a-z_]+>", str(uuid.uuid4()), rule.rule)
        path = re.sub(r"<path:[a-z_]+>", "me", path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            calls.append((rule.endpoint, method, path))
    return calls


def test_every_route_is_in_the_table(app: Flask) -> None:
    assert {rule.endpoint for rule in app.url_map.iter_rules()} == set(EXPECTED)
    for endpoint, role in EXPECTED.items():
        declared = getattr(app.view_functions[endpoint], "required_role", None)
        assert declared == role, endpoint


@pytest.mark.parametrize("role", ROLES)
def test_each_route_for_each_role(
    app: Flask, client: Any, token_minter: TokenMinter, role: str
) -> None:
    headers = {"Authorization": f"Bearer {token_minter.mint(roles=(role,))}"}
    for endpoint, method, path in _calls(app):
        needed = EXPECTED[endpoint]
        resp = client.open(path, method=method, json={}, headers=headers)
        if needed is not None and not has_role((role,), needed):
            assert resp.status_code == 403, (endpoint, role, resp.status_code)
            assert resp.mimetype == "application/problem+json"
            assert resp.get_json()["code"] == "forbidden"
        else:
            assert resp.status_code not in (401, 403), (endpoint, role, resp.get_data()[:200])
        resp.close()


def test_private_routes_want_a_token(app: Flask, client: Any) -> None:
    for endpoint, method, path in _calls(app):
        if EXPECTED[endpoint] is not None:
            resp = client.open(path, method=method, json={})
            assert resp.status_code == 401, (endpoint, resp.status_code)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_without_roles_gets_403(client: Any, token_minter: TokenMinter) -> None:
    token = token_minter.mint(roles=())
    resp = client.get("/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403
