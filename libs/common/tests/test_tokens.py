"""Token verification: pinned algorithm, claims checked, revocation honoured, JWKS refetched."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
import redis
from backdrop_common.errors import Unauthorized, register_error_handlers
from backdrop_common.redis_keys import REVOCATIONS_SINCE, revoked_jti_key, revoked_sid_key
from backdrop_common.revocation_watch import RevocationWatch
from backdrop_common.tokens import (
    REVOCATION_CLOCK_LEEWAY_S,
    JWKSKeyResolver,
    TokenVerifier,
    current_principal,
    has_role,
    require_auth,
    revocations_since,
)
from backdrop_testing.tokens import TokenMinter
from cryptography.hazmat.primitives import serialization
from flask import Flask


@pytest.fixture(params=["redis", "watched"])
def verifier(
    request: pytest.FixtureRequest, token_minter: TokenMinter, redis_client: redis.Redis
) -> Iterator[TokenVerifier]:
    """A verifier that reads the revocation marks from Redis every time, and one that
    answers from a ``RevocationWatch`` (the gateway's): every revocation test runs on both."""
    resolver = JWKSKeyResolver(token_minter.jwks_url)  # type: ignore[attr-defined]
    watch = RevocationWatch(redis_client) if request.param == "watched" else None
    yield TokenVerifier(resolver, "backdrop-auth", "backdrop", redis_client, revocations=watch)
    if watch is not None:
        watch.close()


def test_valid_token_gives_principal(token_minter: TokenMinter, verifier: TokenVerifier) -> None:
    user = uuid.uuid4()
    principal = verifier.verify(token_minter.mint(user, roles=("user", "admin")))
    assert principal.user_id == user
    assert principal.has_role("operator") and principal.has_role("admin")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_alg_none_rejected(token_minter: TokenMinter, verifier: TokenVerifier) -> None:
    payload = jwt.decode(token_minter.mint(), options={"verify_signature": False})
    header = _b64(json.dumps({"alg": "none", "kid": token_minter.kid}).encode())
    forged = f"{header}.{_b64(json.dumps(payload).encode())}."
    with pytest.raises(Unauthorized):
        verifier.verify(forged)


def test_hs256_with_public_key_rejected(token_minter: TokenMinter, verifier: TokenVerifier) -> None:
    public_pem = token_minter.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload = jwt.decode(token_minter.mint(), options={"verify_signature": False})
    header = _b64(json.dumps({"alg": "HS256", "kid": token_minter.kid, "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    import hashlib
    import hmac

    sig = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthorized):
        verifier.verify(f"{header}.{body}.{_b64(sig)}")


def test_tampered_payload_rejected(token_minter: TokenMinter, verifier: TokenVerifier) -> None:
    header, _, sig = token_minter.mint(roles=("user",)).split(".")
    payload = jwt.decode(token_minter.mint(), options={"verify_signature": False})
    payload["roles"] = ["admin"]
    with pytest.raises(Unauthorized):
        verifier.verify(f"{header}.{_b64(json.dumps(payload).encode())}.{sig}")


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 5},
        {"aud": "someone-else"},
        {"iss": "evil-issuer"},
        {"jti": None},
        {"sid": None},
        {"sub": "not-a-uuid"},
    ],
    ids=["expired", "aud", "iss", "no-jti", "no-sid", "bad-sub"],
)
def test_bad_claims_rejected(
    token_minter: TokenMinter, verifier: TokenVerifier, overrides: dict[str, object]
) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(token_minter.mint(**overrides))


def test_unknown_kid_rejected_after_refetch(verifier: TokenVerifier) -> None:
    stranger = TokenMinter(kid="unknown-kid")
    with pytest.raises(Unauthorized):
        verifier.verify(stranger.mint())


def test_new_kid_found_by_refetching_jwks(
    token_minter: TokenMinter, redis_client: redis.Redis
) -> None:
    resolver = JWKSKeyResolver(token_minter.jwks_url, refetch_cooldown=0)  # type: ignore[attr-defined]
    verifier = TokenVerifier(resolver, "backdrop-auth", "backdrop", redis_client)
    verifier.verify(token_minter.mint())  # warm the cache with the first key
    second = TokenMinter(kid="rotated-key-2")
    token_minter.jwks["keys"].append(second.jwks["keys"][0])
    try:
        assert verifier.verify(second.mint()).roles == ("user",)
    finally:
        token_minter.jwks["keys"].pop()


def test_revoked_jti_and_sid_rejected(
    token_minter: TokenMinter, verifier: TokenVerifier, redis_client: redis.Redis
) -> None:
    token = token_minter.mint()
    claims = jwt.decode(token, options={"verify_signature": False})
    redis_client.set(revoked_jti_key(claims["jti"]), 1, ex=60)
    with pytest.raises(Unauthorized):
        verifier.verify(token)
    other = token_minter.mint()
    redis_client.set(
        revoked_sid_key(jwt.decode(other, options={"verify_signature": False})["sid"]), 1
    )
    with pytest.raises(Unauthorized):
        verifier.verify(other)


def test_tokens_from_before_a_redis_wipe_are_refused(
    token_minter: TokenMinter, verifier: TokenVerifier, redis_client: redis.Redis
) -> None:
    """Issue 10 item 6: a logged-out token worked again once Redis lost its revocation marks."""
    before = int(time.time()) - REVOCATION_CLOCK_LEEWAY_S - 5
    redis_client.set(REVOCATIONS_SINCE, before - 60)  # marks complete for a while already
    logged_out = token_minter.mint(iat=before)
    verifier.verify(logged_out)
    sid = jwt.decode(logged_out, options={"verify_signature": False})["sid"]
    redis_client.set(revoked_sid_key(sid), 1, ex=60)  # logout
    with pytest.raises(Unauthorized):
        verifier.verify(logged_out)
    redis_client.flushdb()  # FLUSHALL, or Redis restarted without its data
    with pytest.raises(Unauthorized, match="predates"):
        verifier.verify(logged_out)
    assert int(redis_client.get(REVOCATIONS_SINCE)) > before
    # A token issued after the loss (what a refresh gives) works; so does auth's marker.
    verifier.verify(token_minter.mint())
    assert revocations_since(redis_client) == int(redis_client.get(REVOCATIONS_SINCE))


def test_garbage_rejected(verifier: TokenVerifier) -> None:
    for junk in ["", "abc", "a.b.c", "💥.💥.💥", "x" * 10000]:
        with pytest.raises(Unauthorized):
            verifier.verify(junk)


@pytest.mark.parametrize("kid", ["\u0000", "\ud800", "k" * 200, "a/b", ""])
def test_junk_kid_rejected_before_any_key_lookup(
    token_minter: TokenMinter, verifier: TokenVerifier, kid: str
) -> None:
    _, payload, signature = token_minter.mint().split(".")
    header = _b64(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}).encode())
    with pytest.raises(Unauthorized):
        verifier.verify(f"{header}.{payload}.{signature}")


@pytest.mark.parametrize(
    ("held", "role", "allowed"),
    [
        (("user",), "user", True),
        (("user",), "operator", False),
        (("user",), "admin", False),
        (("operator",), "user", True),
        (("operator",), "operator", True),
        (("operator",), "admin", False),
        (("user", "admin"), "operator", True),
        ((), "user", False),
        (("superuser", "root"), "user", False),
    ],
)
def test_roles_include_the_ones_below(held: tuple[str, ...], role: str, allowed: bool) -> None:
    assert has_role(held, role) is allowed


def test_require_auth_refuses_a_missing_role_with_403(
    token_minter: TokenMinter, verifier: TokenVerifier
) -> None:
    app = Flask("roles")
    app.extensions["token_verifier"] = verifier
    register_error_handlers(app)

    @app.get("/ops")
    @require_auth("operator")
    def ops() -> str:
        return current_principal().roles[0]

    client = app.test_client()
    as_user = client.get("/ops", headers={"Authorization": f"Bearer {token_minter.mint()}"})
    assert as_user.status_code == 403
    assert as_user.mimetype == "application/problem+json"
    assert as_user.get_json()["code"] == "forbidden"
    operator = token_minter.mint(roles=("operator",))
    assert client.get("/ops", headers={"Authorization": f"Bearer {operator}"}).text == "operator"
    assert ops.required_role == "operator"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown role"):
        require_auth("root")


def test_revocation_refuses_a_token_already_verified(
    token_minter: TokenMinter, verifier: TokenVerifier, redis_client: redis.Redis
) -> None:
    # The signature check is remembered between requests; a revocation is seen at once
    # (read every time, or remembered only until Redis says the mark changed).
    token = token_minter.mint()
    principal = verifier.verify(token)
    assert verifier.verify(token) == principal
    redis_client.set(revoked_sid_key(principal.sid), "1")
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.verify(token)


def test_a_remembered_token_still_expires_on_time(
    token_minter: TokenMinter, verifier: TokenVerifier
) -> None:
    # exp is whole seconds from a truncated now: a 1 s token minted at x.999 was already
    # expired when first verified (CI saw it). 2 s leaves at least one whole second.
    token = token_minter.mint(ttl=2)
    verifier.verify(token)
    time.sleep(2.1)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)


def test_remembered_tokens_are_bounded(token_minter: TokenMinter, verifier: TokenVerifier) -> None:
    verifier.REMEMBER_MAX = 8
    tokens = [token_minter.mint() for _ in range(20)]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._verified) <= 8
    assert verifier.verify(tokens[0]).jti  # a forgotten token is simply verified again
