"""Minting access tokens (EdDSA JWTs with Backdrop's claims) and token responses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import jwt
import redis
from backdrop_common.tokens import ALGORITHM, revocations_since

from auth_service.keys import KeyStore
from auth_service.settings import AuthSettings


def access_token(
    keys: KeyStore,
    settings: AuthSettings,
    *,
    user_id: uuid.UUID | str,
    session_id: str,
    roles: Sequence[str],
    revocations: redis.Redis,
) -> str:
    """A signed access token for ``user_id`` in session ``session_id``.

    The revocation marker in Redis (``revocations``) is made sure of first: were it written
    only later, after Redis lost its data, verifiers would refuse this new token.
    """
    revocations_since(revocations)
    kid, private_key = keys.signing_key()
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "iat": now,
        "exp": now + settings.access_token_ttl,
        "jti": uuid.uuid4().hex,
        "sid": session_id,
        "roles": list(roles),
    }
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": kid})


def token_response(access: str, refresh: str, settings: AuthSettings) -> dict[str, Any]:
    """The body of a successful login or refresh."""
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl,
        "refresh_token": refresh,
    }
