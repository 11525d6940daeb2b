"""Happy paths: register, login (email / username), me, refresh, logout, JWKS."""

from __future__ import annotations

import datetime as dt
import uuid

import jwt
from backdrop_common.redis_keys import REVOCATIONS_SINCE

from tests.helpers import PASSWORD, assert_problem, assert_unauthorized, bearer, count_rows

USER_FIELDS = {"id", "email", "username", "name", "roles", "created_at", "disabled"}


def test_register_returns_user(auth) -> None:
    resp = auth.register(email="Ada@Example.com", username="ada.l-1_x", name="Ada Lovelace")
    assert resp.status_code == 201
    user = resp.get_json()
    assert set(user) == USER_FIELDS
    uuid.UUID(user["id"])
    assert user["email"] == "Ada@Example.com"
    assert user["username"] == "ada.l-1_x"
    assert user["name"] == "Ada Lovelace"
    assert user["roles"] == ["user"]
    assert user["created_at"].endswith("Z")
    dt.datetime.fromisoformat(user["created_at"])


def test_register_taken_username_is_409_case_insensitive(auth, clean) -> None:
    assert auth.register(email="bob@example.com", username="bob").status_code == 201
    doc = assert_problem(auth.register(email="bob2@example.com", username="BoB"), 409, "conflict")
    assert "username" in doc["errors"]
    # Also when the email is taken too: the username decides, the email is never named.
    doc = assert_problem(auth.register(email="BOB@example.com", username="bob"), 409, "conflict")
    assert set(doc["errors"]) == {"username"}
    assert count_rows(clean, "users") == 1


def test_register_taken_email_answers_like_a_new_account(auth, clean) -> None:
    first = auth.register(email="eve@example.com", username="eve", password=PASSWORD)
    again = auth.register(email="EVE@example.COM", username="eve2", password="another passw0rd")
    fresh = auth.register(email="eve3@example.com", username="eve3")
    assert first.status_code == again.status_code == fresh.status_code == 201
    assert set(again.get_json()) == set(fresh.get_json()) == USER_FIELDS
    assert again.get_json()["id"] != first.get_json()["id"]
    assert again.headers.get("Content-Type") == fresh.headers.get("Content-Type")
    # Nothing was stored: the owner's password still works, the second one does not.
    assert count_rows(clean, "users") == 2
    assert auth.login("eve@example.com", PASSWORD).status_code == 200
    assert_unauthorized(auth.login("eve2", "another passw0rd"))


def test_login_by_email_and_by_username(auth, app) -> None:
    auth.register(email="carol@example.com", username="carol")
    for identifier in ("carol@example.com", "CAROL@EXAMPLE.COM", "carol", "Carol"):
        resp = auth.login(identifier, PASSWORD)
        assert resp.status_code == 200, resp.json
        body = resp.get_json()
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert resp.headers["Cache-Control"] == "no-store"
        header = jwt.get_unverified_header(body["access_token"])
        assert header["alg"] == "EdDSA" and header["kid"]
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "jti", "sid", "roles"}
        assert claims["iss"] == "backdrop-auth" and claims["aud"] == "backdrop"
        assert claims["exp"] - claims["iat"] == 900
        assert claims["roles"] == ["user"]


def test_wrong_password_and_unknown_user_get_the_same_answer(auth) -> None:
    acc = auth.account()
    wrong = auth.login(acc.username, "not the password")
    unknown = auth.login("nobody-here", "not the password")
    assert_unauthorized(wrong)
    assert_unauthorized(unknown)
    assert wrong.get_json()["detail"] == unknown.get_json()["detail"]


def test_me(auth, client) -> None:
    acc = auth.account(name="Dora")
    resp = client.get("/v1/auth/me", headers=acc.headers)
    assert resp.status_code == 200
    assert resp.get_json() == acc.user
    assert_unauthorized(client.get("/v1/auth/me"))
    assert_unauthorized(client.get("/v1/auth/me", headers={"Authorization": "Basic abc"}))
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer("not.a.jwt")))


def test_session_records_user_agent_and_ip(auth, client, clean) -> None:
    acc = auth.register().get_json()
    client.post(
        "/v1/auth/login",
        json={"identifier": acc["username"], "password": PASSWORD},
        headers={"User-Agent": "backdrop-cli/1.0"},
        environ_base={"REMOTE_ADDR": "127.0.0.7"},
    )
    with clean.cursor() as cur:
        cur.execute("SELECT user_agent, ip FROM auth.sessions")
        assert cur.fetchone() == {"user_agent": "backdrop-cli/1.0", "ip": "127.0.0.7"}


def test_refresh_rotates(auth, client, clean) -> None:
    acc = auth.account()
    resp = client.post("/v1/auth/refresh", json={"refresh_token": acc.refresh_token})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["refresh_token"] != acc.refresh_token
    assert body["token_type"] == "Bearer"
    old = jwt.decode(acc.access_token, options={"verify_signature": False})
    new = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert new["sid"] == old["sid"] and new["jti"] != old["jti"]
    assert client.get("/v1/auth/me", headers=bearer(body["access_token"])).status_code == 200
    with clean.cursor() as cur:
        cur.execute("SELECT token_hash FROM auth.refresh_tokens")
        stored = [bytes(r["token_hash"]) for r in cur.fetchall()]
    # Only SHA-256 digests are stored, never the tokens.
    assert len(stored) == 2 and all(len(h) == 32 for h in stored)
    assert not any(acc.refresh_token.encode() in h for h in stored)


def test_refresh_with_unknown_token(client) -> None:
    assert_unauthorized(client.post("/v1/auth/refresh", json={"refresh_token": "nope"}))


def test_logout_revokes_access_and_refresh(auth, client, redis_client) -> None:
    acc = auth.account()
    resp = client.post("/v1/auth/logout", headers=acc.headers)
    assert resp.status_code == 204 and resp.data == b""
    claims = jwt.decode(acc.access_token, options={"verify_signature": False})
    ttl = redis_client.ttl(f"auth:revoked:sid:{claims['sid']}")
    assert 0 < ttl <= 900
    assert redis_client.get(f"auth:revoked:jti:{claims['jti']}") == "1"
    assert_unauthorized(client.get("/v1/auth/me", headers=acc.headers))
    assert_unauthorized(client.post("/v1/auth/logout", headers=acc.headers))
    assert_unauthorized(client.post("/v1/auth/refresh", json={"refresh_token": acc.refresh_token}))


def test_tokens_issued_after_a_redis_wipe_postdate_its_marker(auth, client, redis_client) -> None:
    """Verifiers refuse tokens older than the revocation marker (issue 10 item 6), so the
    marker must exist before auth signs: else the first token after a wipe could be refused."""
    acc = auth.account()
    redis_client.flushdb()  # FLUSHALL, or a restart of a Redis that keeps nothing
    fresh = client.post("/v1/auth/refresh", json={"refresh_token": acc.refresh_token}).get_json()
    claims = jwt.decode(fresh["access_token"], options={"verify_signature": False})
    assert int(redis_client.get(REVOCATIONS_SINCE)) <= claims["iat"]


def test_logout_with_refresh_token_of_another_own_session(auth, client) -> None:
    acc = auth.account()
    second = auth.login(acc.username, acc.password).get_json()
    resp = client.post(
        "/v1/auth/logout", headers=acc.headers, json={"refresh_token": second["refresh_token"]}
    )
    assert resp.status_code == 204
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(second["access_token"])))
    refresh = client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_unauthorized(refresh)


def test_logout_leaves_other_sessions_alone(auth, client) -> None:
    acc = auth.account()
    other = auth.login(acc.username, acc.password).get_json()
    assert client.post("/v1/auth/logout", headers=acc.headers).status_code == 204
    assert client.get("/v1/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_jwks_shape(client, ctx) -> None:
    resp = client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    keys = resp.get_json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519"
    assert key["alg"] == "EdDSA" and key["use"] == "sig"
    assert key["kid"] == ctx.keys.ensure_active()
    assert "d" not in key  # never the private half
    jwt.PyJWK(key)  # a usable public key
