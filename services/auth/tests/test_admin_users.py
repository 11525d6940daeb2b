"""User administration: only admins; disabling and taking roles away sign the user out at once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from auth_service import users_table
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, Account, AuthHelper, assert_problem, assert_unauthorized


def _with_roles(auth: AuthHelper, ctx: Any, *roles: str) -> Account:
    """A new account holding ``roles``, logged in after the grant."""
    acc = auth.account()
    users_table.set_roles(ctx.db, acc.user["id"], roles)
    tokens = auth.login(acc.username, acc.password).get_json()
    acc.access_token, acc.refresh_token = tokens["access_token"], tokens["refresh_token"]
    return acc


@pytest.fixture
def admin(auth: AuthHelper, ctx: Any) -> Account:
    """A signed-in admin."""
    return _with_roles(auth, ctx, "admin")


def _me(client: FlaskClient, acc: Account) -> Any:
    return client.get("/v1/auth/me", headers=acc.headers)


ADMIN_CALLS = [
    ("GET", "/v1/admin/users", None),
    ("GET", "/v1/admin/users/{id}", None),
    ("POST", "/v1/admin/users/{id}/disable", None),
    ("POST", "/v1/admin/users/{id}/enable", None),
    ("PUT", "/v1/admin/users/{id}/roles", {"roles": ["operator"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
@pytest.mark.parametrize("roles", [("user",), ("operator",)])
def test_only_admins_manage_users(
    auth: AuthHelper, ctx: Any, method: str, path: str, body: Any, roles: tuple[str, ...]
) -> None:
    caller = _with_roles(auth, ctx, *roles)
    target = auth.account()
    resp = auth.client.open(
        path.format(id=target.user["id"]), method=method, json=body, headers=caller.headers
    )
    assert_problem(resp, 403, "forbidden")
    assert _me(auth.client, target).status_code == 200  # nothing happened to the target
    assert_unauthorized(auth.client.open(path.format(id=target.user["id"]), method=method))


def test_list_pages_newest_first(auth: AuthHelper, admin: Account) -> None:
    made = [auth.account().user["id"] for _ in range(3)]
    first = auth.client.get("/v1/admin/users?limit=2", headers=admin.headers).get_json()
    assert [u["id"] for u in first["items"]] == made[::-1][:2]
    rest = auth.client.get(
        f"/v1/admin/users?limit=2&cursor={first['next_cursor']}", headers=admin.headers
    ).get_json()
    assert [u["id"] for u in rest["items"]] == [made[0], admin.user["id"]]
    assert rest["next_cursor"] is None
    assert all("password_hash" not in u for u in first["items"] + rest["items"])
    bad = auth.client.get("/v1/admin/users?cursor=nonsense", headers=admin.headers)
    assert_problem(bad, 400, "validation_error")
    too_many = auth.client.get("/v1/admin/users?limit=201", headers=admin.headers)
    assert_problem(too_many, 400, "validation_error")


def test_disable_stops_tokens_at_once_and_refuses_login(auth: AuthHelper, admin: Account) -> None:
    victim = auth.account()
    second_login = auth.login(victim.username, PASSWORD).get_json()
    resp = auth.client.post(f"/v1/admin/users/{victim.user['id']}/disable", headers=admin.headers)
    assert resp.status_code == 200 and resp.get_json()["disabled"] is True
    assert_unauthorized(_me(auth.client, victim))
    other = {"Authorization": f"Bearer {second_login['access_token']}"}
    assert_unauthorized(auth.client.get("/v1/auth/me", headers=other))
    refresh = auth.client.post(
        "/v1/auth/refresh", json={"refresh_token": second_login["refresh_token"]}
    )
    assert_unauthorized(refresh)
    assert_problem(auth.login(victim.username, PASSWORD), 403, "forbidden")
    # A wrong password still gets the plain 401: "disabled" is told only to the owner.
    assert_unauthorized(auth.login(victim.username, "not the password"))
    enabled = auth.client.post(f"/v1/admin/users/{victim.user['id']}/enable", headers=admin.headers)
    assert enabled.get_json()["disabled"] is False
    assert auth.login(victim.username, PASSWORD).status_code == 200
    assert_unauthorized(_me(auth.client, victim))  # the old session stays revoked


def test_granting_arrives_with_refresh_and_removing_signs_out(
    auth: AuthHelper, admin: Account
) -> None:
    acc = auth.account()
    url = f"/v1/admin/users/{acc.user['id']}/roles"
    granted = auth.client.put(url, json={"roles": ["operator"]}, headers=admin.headers)
    assert granted.get_json()["roles"] == ["user", "operator"]
    assert _me(auth.client, acc).status_code == 200  # a grant keeps the session
    tokens = auth.client.post(
        "/v1/auth/refresh", json={"refresh_token": acc.refresh_token}
    ).get_json()
    acc.access_token = tokens["access_token"]
    assert _me(auth.client, acc).get_json()["roles"] == ["user", "operator"]
    removed = auth.client.put(url, json={"roles": []}, headers=admin.headers)
    assert removed.get_json()["roles"] == ["user"]
    assert_unauthorized(_me(auth.client, acc))
    relogin = auth.login(acc.username, PASSWORD).get_json()
    me = auth.client.get(
        "/v1/auth/me", headers={"Authorization": f"Bearer {relogin['access_token']}"}
    )
    assert me.get_json()["roles"] == ["user"]


def test_admin_cannot_lock_themselves_out(auth: AuthHelper, admin: Account) -> None:
    me = admin.user["id"]
    assert_problem(auth.client.post(f"/v1/admin/users/{me}/disable", headers=admin.headers), 409)
    demote = auth.client.put(
        f"/v1/admin/users/{me}/roles", json={"roles": ["operator"]}, headers=admin.headers
    )
    assert_problem(demote, 409, "conflict")
    assert _me(auth.client, admin).get_json()["roles"] == ["user", "operator", "admin"]


@pytest.mark.parametrize(
    "body",
    [{"roles": ["root"]}, {"roles": "admin"}, {}, {"roles": ["user"], "extra": 1}, [1]],
)
def test_bad_roles_body_is_400(auth: AuthHelper, admin: Account, body: Any) -> None:
    target = auth.account().user["id"]
    resp = auth.client.put(f"/v1/admin/users/{target}/roles", json=body, headers=admin.headers)
    assert_problem(resp, 400, "validation_error")


def test_unknown_user_is_404(auth: AuthHelper, admin: Account) -> None:
    missing = uuid.uuid4()
    for method, path, body in ADMIN_CALLS[1:]:
        resp = auth.client.open(
            path.format(id=missing), method=method, json=body, headers=admin.headers
        )
        assert_problem(resp, 404, "not_found")


# endpoint -> the lowest role that may call it (None: public).
AUTH_ROUTES: dict[str, str | None] = {
    "users.register": None,
    "sessions.login": None,
    "sessions.refresh": None,
    "jwks.jwks": None,
    "health.healthz": None,
    "health.readyz": None,
    "health.metrics": None,
    "static": None,
    "users.me": "user",
    "sessions.logout": "user",
    "admin_users.list_users": "admin",
    "admin_users.get_user": "admin",
    "admin_users.disable_user": "admin",
    "admin_users.enable_user": "admin",
    "admin_users.set_roles": "admin",
}


def test_every_auth_route_declares_its_role(app: Any) -> None:
    assert set(app.view_functions) == set(AUTH_ROUTES)
    for endpoint, role in AUTH_ROUTES.items():
        assert getattr(app.view_functions[endpoint], "required_role", None) == role, endpoint
