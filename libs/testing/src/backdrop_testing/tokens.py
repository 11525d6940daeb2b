"""Minting real EdDSA access tokens for services' tests, served from a real JWKS endpoint.

Services other than auth verify tokens exactly as in production (JWKS over HTTP, Redis
revocation); only the issuer is a test double, so their suites do not need the auth service.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, Response

ISSUER = "backdrop-auth"
AUDIENCE = "backdrop"


class TokenMinter:
    """Holds an Ed25519 key, serves its JWKS, and signs tokens with Backdrop's claims."""

    def __init__(self, kid: str = "test-key-1") -> None:
        self.kid = kid
        self.private_key = Ed25519PrivateKey.generate()
        public_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        public_jwk.update({"kid": kid, "use": "sig", "alg": "EdDSA"})
        self.jwks = {"keys": [public_jwk]}

    def jwks_app(self) -> Flask:
        """A tiny WSGI app serving ``/.well-known/jwks.json``."""
        app = Flask("test-jwks")

        @app.get("/.well-known/jwks.json")
        def jwks() -> Response:
            return Response(json.dumps(self.jwks), mimetype="application/json")

        return app

    def mint(
        self,
        user_id: uuid.UUID | str | None = None,
        roles: tuple[str, ...] = ("user",),
        ttl: int = 900,
        **overrides: Any,
    ) -> str:
        """A signed access token; ``overrides`` replace or add claims (``None`` removes one)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id or uuid.uuid4()),
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "sid": uuid.uuid4().hex,
            "roles": list(roles),
        }
        for key, value in overrides.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})
