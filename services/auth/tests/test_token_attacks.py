"""Forged, altered, stale and revoked tokens are refused with 401 and a Bearer challenge."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.helpers import AuthHelper, assert_unauthorized, bearer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


@pytest.fixture
def victim(auth) -> Any:
    """A logged-in user whose token the attacks start from."""
    return auth.account()


def _sign(ctx: Any, claims: dict[str, Any], kid: str | None = None) -> str:
    real_kid, key = ctx.keys.signing_key()
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid or real_kid})


def _claims(victim: Any, **changes: Any) -> dict[str, Any]:
    claims = jwt.decode(victim.access_token, options={"verify_signature": False})
    claims.update(changes)
    return claims


def test_genuine_token_works(client, victim) -> None:
    assert client.get("/v1/auth/me", headers=victim.headers).status_code == 200


def test_alg_none(client, victim) -> None:
    header, claims, _ = _segments(victim.access_token)
    for alg in ("none", "None", "NONE"):
        forged = f"{_b64(json.dumps({**header, 'alg': alg}).encode())}."
        forged += f"{_b64(json.dumps(claims).encode())}."
        assert_unauthorized(client.get("/v1/auth/me", headers=bearer(forged)))


def test_hs256_signed_with_the_public_key(client, victim, ctx) -> None:
    header, claims, _ = _segments(victim.access_token)
    public = ctx.keys.public_key(header["kid"])
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_json = json.dumps(client.get("/.well-known/jwks.json").get_json()["keys"][0]).encode()
    for secret in (raw, pem, jwk_json):
        forged = _hs256({**header, "alg": "HS256"}, {**claims, "roles": ["admin"]}, secret)
        assert_unauthorized(client.get("/v1/auth/me", headers=bearer(forged)))


def test_tampered_payload(client, victim) -> None:
    _, claims, signature = _segments(victim.access_token)
    for change in ({"roles": ["user", "admin"]}, {"sub": str(uuid.uuid4())}, {"exp": 2**31}):
        payload = _b64(json.dumps({**claims, **change}).encode())
        forged = f"{victim.access_token.split('.')[0]}.{payload}.{signature}"
        assert_unauthorized(client.get("/v1/auth/me", headers=bearer(forged)))


def test_tampered_signature(client, victim) -> None:
    head, payload, signature = victim.access_token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(f"{head}.{payload}.{flipped}")))


def test_expired(client, victim, ctx) -> None:
    now = int(time.time())
    token = _sign(ctx, _claims(victim, iat=now - 1000, exp=now - 100))
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))


def test_wrong_audience(client, victim, ctx) -> None:
    token = _sign(ctx, _claims(victim, aud="someone-else"))
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))


def test_wrong_issuer(client, victim, ctx) -> None:
    token = _sign(ctx, _claims(victim, iss="https://evil.example"))
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))


def test_missing_claims(client, victim, ctx) -> None:
    for name in ("exp", "sid", "jti", "sub"):
        claims = _claims(victim)
        del claims[name]
        assert_unauthorized(client.get("/v1/auth/me", headers=bearer(_sign(ctx, claims))))


def test_unknown_kid(client, victim, ctx) -> None:
    token = _sign(ctx, _claims(victim), kid="no-such-key")
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(token)))


def test_foreign_key_with_the_real_kid(client, victim) -> None:
    header, claims, _ = _segments(victim.access_token)
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
    )
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(forged)))


def test_token_after_logout(client, victim) -> None:
    assert client.post("/v1/auth/logout", headers=victim.headers).status_code == 204
    assert_unauthorized(client.get("/v1/auth/me", headers=victim.headers))


def test_reused_refresh_token_kills_the_family(client, victim, redis_client, clean) -> None:
    first = client.post("/v1/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert first.status_code == 200
    rotated = first.get_json()
    # Past the grace window for parallel refreshes (10 s by default).
    with clean.cursor() as cur:
        cur.execute("UPDATE auth.refresh_tokens SET used_at = used_at - interval '11 seconds'")
    # The attacker (or a replay) presents the already-rotated token.
    reuse = client.post("/v1/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert_unauthorized(reuse)
    sid = jwt.decode(victim.access_token, options={"verify_signature": False})["sid"]
    assert redis_client.exists(f"auth:revoked:sid:{sid}")
    # The newest token of that family is dead too...
    again = client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_unauthorized(again)
    # ...and so are the family's access tokens, old and new.
    assert_unauthorized(client.get("/v1/auth/me", headers=victim.headers))
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(rotated["access_token"])))


def test_expired_refresh_token(client, victim, clean) -> None:
    with clean.cursor() as cur:
        cur.execute("UPDATE auth.refresh_tokens SET expires_at = now() - interval '1 second'")
    assert_unauthorized(
        client.post("/v1/auth/refresh", json={"refresh_token": victim.refresh_token})
    )


@pytest.mark.parametrize("kid", ["\u0000", "\ud800", "a\u0000b", "x" * 5000, "../../etc", " "])
def test_junk_kid_is_401_not_500(client, victim, ctx, kid) -> None:
    # A NUL or a lone surrogate once reached the database driver: 500 and a traceback.
    header, _, signature = _segments(victim.access_token)
    # json.dumps writes "\ud800" as an escape, which JSON decoders turn back into the
    # lone surrogate: the token is what an attacker can really send.
    forged_head = _b64(json.dumps({**header, "kid": kid}).encode())
    forged = f"{forged_head}.{victim.access_token.split('.')[1]}.{signature}"
    for method, path in (("GET", "/v1/auth/me"), ("POST", "/v1/auth/logout")):
        assert_unauthorized(client.open(path, method=method, headers=bearer(forged)))
    signed = _sign(ctx, _claims(victim), kid=kid)
    assert_unauthorized(client.get("/v1/auth/me", headers=bearer(signed)))


def test_parallel_refreshes_with_one_token_keep_the_session(app, victim, live_server) -> None:
    # Two tabs refreshing at once used to get one success and a revoked session.
    server = live_server(app)
    answers: list[requests.Response] = []
    start = threading.Barrier(6)

    def refresh() -> None:
        start.wait()
        answers.append(
            requests.post(
                f"{server.url}/v1/auth/refresh",
                json={"refresh_token": victim.refresh_token},
                timeout=30,
            )
        )

    threads = [threading.Thread(target=refresh) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [a.status_code for a in answers] == [200] * 6
    for answer in answers:
        tokens = answer.json()
        me = requests.get(f"{server.url}/v1/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200
        again = {"refresh_token": tokens["refresh_token"]}
        assert requests.post(f"{server.url}/v1/auth/refresh", json=again).status_code == 200


def test_session_has_an_absolute_lifetime(make_app, clean) -> None:
    client = make_app(session_max_age_s=3600).test_client()
    victim = AuthHelper(client).account()
    fresh = client.post("/v1/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert fresh.status_code == 200
    # Refreshing kept every token young, but the login was over an hour ago.
    with clean.cursor() as cur:
        cur.execute("UPDATE auth.sessions SET created_at = now() - interval '61 minutes'")
    token = fresh.get_json()["refresh_token"]
    assert_unauthorized(client.post("/v1/auth/refresh", json={"refresh_token": token}))
    assert_unauthorized(client.get("/v1/auth/me", headers=victim.headers))
