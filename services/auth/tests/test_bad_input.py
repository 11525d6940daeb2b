"""Hostile and malformed input gets a 4xx problem+json, never a 5xx, and stores nothing."""

from __future__ import annotations

import io
import json

import pytest

from tests.helpers import PASSWORD, assert_problem, count_rows

REGISTER = "/v1/auth/register"
VALID = {"email": "eve@example.com", "username": "eve", "password": PASSWORD}
HOSTILE = [
    "'; DROP TABLE auth.users; --",
    '" OR 1=1 --',
    "admin'--",
    "%s %(x)s {0} \\",
    "\x00",
    "a\x00b@example.com",
    "\ud800",
    "ünïcødé",
    "👩‍💻👩‍💻👩‍💻",
    "\u202eevil",
    "x" * 5000,
    "line\nbreak",
]


def _post(client, path: str, body: object, **kwargs):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kwargs)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "username", "password"}),
        ({"email": "eve@example.com"}, {"username", "password"}),
        ({**VALID, "email": 42}, {"email"}),
        ({**VALID, "username": ["eve"]}, {"username"}),
        ({**VALID, "password": {"p": 1}}, {"password"}),
        ({**VALID, "password": 12345678}, {"password"}),
        ({**VALID, "name": 7}, {"name"}),
        ({**VALID, "email": "not-an-email"}, {"email"}),
        ({**VALID, "email": "eve@example.com "}, {"email"}),
        ({**VALID, "username": "ab"}, {"username"}),
        ({**VALID, "username": "a" * 33}, {"username"}),
        ({**VALID, "username": "eve\n"}, {"username"}),
        ({**VALID, "username": "eve@home"}, {"username"}),
        ({**VALID, "password": "short"}, {"password"}),
        ({**VALID, "password": "p" * 257}, {"password"}),
        ({**VALID, "name": "n" * 201}, {"name"}),
        ({**VALID, "roles": ["admin"]}, {"roles"}),
        ({**VALID, "is_admin": True}, {"is_admin"}),
    ],
)
def test_register_validation(client, clean, body, fields) -> None:
    doc = assert_problem(_post(client, REGISTER, body), 400, "validation_error")
    assert set(doc["errors"]) == fields
    assert count_rows(clean, "users") == 0


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["email", "username"])
def test_hostile_identity_fields(client, clean, field, value) -> None:
    resp = _post(client, REGISTER, {**VALID, field: value})
    assert_problem(resp, 400, "validation_error")
    assert count_rows(clean, "users") == 0


def test_internationalised_email_is_accepted_verbatim(auth, clean) -> None:
    resp = auth.register(email="ünïcødé@éxample.com")
    assert resp.status_code == 201
    assert resp.get_json()["email"] == "ünïcødé@éxample.com"
    assert auth.login("ÜNÏCØDÉ@ÉXAMPLE.COM", PASSWORD).status_code == 200


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_name_and_password(client, clean, value) -> None:
    """Text that is valid is stored verbatim (parameterised SQL); the rest is a 400."""
    for body in ({**VALID, "name": value}, {**VALID, "password": value * 8}):
        resp = _post(client, REGISTER, body)
        assert resp.status_code < 500
        if resp.status_code == 201:
            if "name" in body:
                assert resp.get_json()["name"] == value
            with clean.cursor() as cur:
                cur.execute("DELETE FROM auth.users")
        else:
            assert_problem(resp, 400, "validation_error")
    assert count_rows(clean, "users") == 0


@pytest.mark.parametrize("value", [*HOSTILE, 7, None, [], {}])
@pytest.mark.parametrize("field", ["identifier", "password"])
def test_hostile_login(client, clean, field, value) -> None:
    body = {"identifier": "eve", "password": PASSWORD, field: value}
    resp = _post(client, "/v1/auth/login", body, environ_base={"REMOTE_ADDR": "127.0.0.8"})
    assert resp.status_code in (400, 401), resp.get_data(as_text=True)
    assert_problem(resp, resp.status_code)
    assert count_rows(clean, "sessions") == 0


@pytest.mark.parametrize("value", [*HOSTILE, 7, None, [], ""])
def test_hostile_refresh(client, value) -> None:
    resp = _post(client, "/v1/auth/refresh", {"refresh_token": value})
    assert resp.status_code in (400, 401)
    assert_problem(resp, resp.status_code)


@pytest.mark.parametrize("path", [REGISTER, "/v1/auth/login", "/v1/auth/refresh"])
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"", "application/json"),
        (b"{", "application/json"),
        (b"{'single': 'quotes'}", "application/json"),
        (b'{"email": NaN}', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"a string"', "application/json"),
        (b"null", "application/json"),
        (b'{"email": "\xff\xfe"}', "application/json"),
        (b"\xc3\x28", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
)
def test_unreadable_bodies(client, clean, path, data, content_type) -> None:
    resp = client.post(path, data=data, content_type=content_type)
    assert_problem(resp, 400, "validation_error")
    assert count_rows(clean, "users") == 0


@pytest.mark.parametrize("path", [REGISTER, "/v1/auth/login", "/v1/auth/refresh"])
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (json.dumps(VALID).encode(), "text/plain"),
        (json.dumps(VALID).encode(), "application/x-www-form-urlencoded"),
        (b"email=eve@example.com&username=eve", "application/x-www-form-urlencoded"),
        (json.dumps(VALID).encode(), "multipart/form-data; boundary=x"),
        (json.dumps(VALID).encode(), None),
    ],
)
def test_bodies_not_sent_as_json_are_415(client, clean, path, data, content_type) -> None:
    # text/plain and forms are what a cross-site form can post without a preflight.
    resp = client.post(path, data=data, content_type=content_type)
    assert_problem(resp, 415, "unsupported_media_type")
    assert count_rows(clean, "users") == 0


@pytest.mark.parametrize("path", [REGISTER, "/v1/auth/login", "/v1/auth/refresh"])
def test_ten_megabyte_body(client, clean, path) -> None:
    big = json.dumps({**VALID, "name": "x" * (10 * 1024 * 1024)})
    resp = client.post(path, data=big, content_type="application/json")
    assert_problem(resp, 413, "payload_too_large")
    assert count_rows(clean, "users") == 0


def test_ten_megabyte_chunked_body(client, clean) -> None:
    """Without Content-Length (chunked), werkzeug stops at the cap; that is still a 413."""
    big = json.dumps({**VALID, "name": "x" * (10 * 1024 * 1024)}).encode()
    resp = client.post(
        REGISTER,
        input_stream=io.BytesIO(big),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(resp, 413, "payload_too_large")
    assert count_rows(clean, "users") == 0


def test_small_chunked_body_is_read(client) -> None:
    resp = client.post(
        REGISTER,
        input_stream=io.BytesIO(json.dumps(VALID).encode()),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 201


def test_body_just_under_the_cap_is_read(client, clean) -> None:
    body = json.dumps({**VALID, "padding": "x" * (1024 * 1024 - 200)})
    assert len(body) < 1024 * 1024
    doc = assert_problem(_post(client, REGISTER, json.loads(body)), 400, "validation_error")
    assert set(doc["errors"]) == {"padding"}


def test_logout_body_checked_after_auth(auth, client) -> None:
    acc = auth.account()
    resp = client.post(
        "/v1/auth/logout", headers=acc.headers, data=b"{", content_type="application/json"
    )
    assert_problem(resp, 400, "validation_error")
    resp = client.post("/v1/auth/logout", headers=acc.headers, json={"refresh_token": 5})
    assert_problem(resp, 400, "validation_error")
    assert client.get("/v1/auth/me", headers=acc.headers).status_code == 200


def test_unknown_route_and_wrong_method(client) -> None:
    assert_problem(client.get("/v1/auth/nothing-here"), 404, "not_found")
    assert_problem(client.get("/nope"), 404, "not_found")
    resp = client.get("/v1/auth/login")
    assert_problem(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers["Allow"]
    assert_problem(client.delete("/v1/auth/me"), 405, "method_not_allowed")
    assert_problem(client.put("/.well-known/jwks.json"), 405)


def test_bad_authorization_headers(client) -> None:
    for value in ("", "Bearer", "Bearer ", "Token abc", "Bearer a.b.c", "Bearer \u00ff\u00ff"):
        resp = client.get("/v1/auth/me", headers={"Authorization": value})
        assert_problem(resp, 401, "unauthorized")
