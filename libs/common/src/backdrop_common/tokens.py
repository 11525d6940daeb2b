"""Verifying Backdrop access tokens: EdDSA only, issuer/audience/expiry checked, revocation
looked up in Redis, public keys read from the auth service's JWKS (cached, refetched when a
token names a ``kid`` not seen yet)."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import jwt
import redis
from flask import current_app, g, request

from backdrop_common.errors import Forbidden, Unauthorized, Unavailable
from backdrop_common.redis_keys import revoked_jti_key, revoked_sid_key

ALGORITHM = "EdDSA"
# Roles from least to most: each includes the ones before it (an operator may do what a
# user may; an admin what an operator may). Tokens carry the ``roles`` claim.
ROLES = ("user", "operator", "admin")
# Key ids are RFC 7638 thumbprints (base64url); anything else is refused before it reaches a
# key store, where a NUL or a lone surrogate made the database driver raise (a 500).
_KID = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified claims of an access token."""

    user_id: uuid.UUID
    roles: tuple[str, ...]
    jti: str
    sid: str
    token: str
    expires_at: float = 0.0
    """The token's ``exp`` (epoch seconds): live streams end when it passes."""

    def has_role(self, role: str) -> bool:
        """True when the caller holds ``role`` or a role above it."""
        return has_role(self.roles, role)


def has_role(held: tuple[str, ...] | list[str], role: str) -> bool:
    """True when the roles ``held`` include ``role`` or a role above it (``ROLES`` order)."""
    needed = ROLES.index(role)
    return any(r in ROLES and ROLES.index(r) >= needed for r in held)


class KeyResolver(Protocol):
    """Finds the public key for a ``kid``."""

    def __call__(self, kid: str) -> Any: ...


class JWKSKeyResolver:
    """Reads public keys from a JWKS URL through PyJWT's caching client."""

    def __init__(self, jwks_url: str, timeout: float = 3.0, refetch_cooldown: float = 2.0) -> None:
        # The cooldown bounds how often tokens with made-up kids can make us refetch, while
        # a freshly rotated key is still picked up within a couple of seconds.
        self._client = jwt.PyJWKClient(
            jwks_url,
            cache_keys=False,
            lifespan=300,
            timeout=timeout,
            cooldown_duration=refetch_cooldown,
        )

    def __call__(self, kid: str) -> Any:
        """The key for ``kid``; an unknown kid makes the client refetch the set once."""
        try:
            return self._client.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError as exc:
            raise Unavailable("The auth service is not reachable.") from exc
        except jwt.PyJWKSetError as exc:
            # An empty or unreadable key set is the auth side's fault, not the caller's:
            # 503 instead of an unhandled 500.
            raise Unavailable("The auth service's signing keys cannot be read.") from exc
        except jwt.PyJWKClientError as exc:
            raise Unauthorized("The token was signed with an unknown key.") from exc


class TokenVerifier:
    """Checks access tokens against a key resolver, the expected claims and revocations."""

    def __init__(
        self, keys: KeyResolver, issuer: str, audience: str, redis_client: redis.Redis
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.redis = redis_client

    def verify(self, token: str) -> Principal:
        """Return the token's principal or raise ``Unauthorized``."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is malformed.") from exc
        # Pin the algorithm before touching any key: this is what defeats alg:none and
        # HS256-signed-with-the-public-key tokens.
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str) or not _KID.match(kid):
            raise Unauthorized("The token is not signed the way Backdrop signs tokens.")
        key = self.keys(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti", "sid"]},
            )
            user_id = uuid.UUID(str(claims["sub"]))
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized("The token is not valid.") from exc
        jti, sid = str(claims["jti"]), str(claims["sid"])
        try:
            revoked = self.redis.exists(revoked_jti_key(jti), revoked_sid_key(sid))
        except redis.RedisError as exc:
            raise Unavailable("Token revocation cannot be checked right now.") from exc
        if revoked:
            raise Unauthorized("The token has been revoked.")
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Unauthorized("The token is not valid.")
        return Principal(
            user_id, tuple(str(r) for r in roles), jti, sid, token, float(claims["exp"])
        )

    def revoked(self, principal: Principal) -> bool:
        """True when ``principal``'s token or session was revoked since it was verified
        (logout, a disabled account): what a long-lived stream asks now and then."""
        return bool(
            self.redis.exists(revoked_jti_key(principal.jti), revoked_sid_key(principal.sid))
        )


def bearer_token() -> str:
    """The bearer token of the current request, or ``Unauthorized``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required.")
    return token.strip()


def require_auth(role: str = "user") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """View decorator: verify the bearer token (``app.extensions['token_verifier']``), put
    the caller on ``g.principal`` and require ``role`` (or a role above it): 403 otherwise.

    The wrapped view carries ``required_role``, so a test can walk every route and check
    that each one declares who may call it."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            principal = token_verifier().verify(bearer_token())
            if not principal.has_role(role):
                raise Forbidden(f"This needs the {role} role.")
            g.principal = principal
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorate


def token_verifier() -> TokenVerifier:
    """The verifier of the current app (``app.extensions['token_verifier']``)."""
    verifier: TokenVerifier = current_app.extensions["token_verifier"]
    return verifier


def current_principal() -> Principal:
    """The principal ``require_auth`` stored for this request."""
    principal: Principal = g.principal
    return principal
