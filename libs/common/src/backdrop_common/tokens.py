"""Verifying Backdrop access tokens: EdDSA only, issuer/audience/expiry checked, revocation
looked up in Redis, public keys read from the auth service's JWKS (cached, refetched when a
token names a ``kid`` not seen yet).

Revocation marks live in Redis only for an access token's lifetime. If Redis loses its data
they are gone, and a logged-out token would work again. ``REVOCATIONS_SINCE`` guards that:
it holds the time from which the marks are complete, and a token issued before it is refused
(its owner refreshes; a logged-out session cannot, its refresh tokens are revoked in
PostgreSQL). The key disappears with the marks, and whoever notices first writes it again.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import jwt
import redis
from flask import current_app, g, request

from backdrop_common.errors import Forbidden, Unauthorized, Unavailable
from backdrop_common.metrics import DEPENDENCY_ERRORS
from backdrop_common.redis_keys import REVOCATIONS_SINCE, revoked_jti_key, revoked_sid_key
from backdrop_common.revocation_watch import RevocationWatch

ALGORITHM = "EdDSA"
# Roles from least to most: each includes the ones before it (an operator may do what a
# user may; an admin what an operator may). Tokens carry the ``roles`` claim.
ROLES = ("user", "operator", "admin")
# Tokens issued this long before the marker was written still pass: the iat of a token and
# the marker come from two clocks (auth's host, Redis) with whole-second resolution.
REVOCATION_CLOCK_LEEWAY_S = 2
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


def revocations_since(client: redis.Redis) -> int:
    """Unix time from which Redis holds every revocation mark (written now if missing).

    Auth calls this before issuing a token, so after a loss of Redis data no new token
    predates the marker.
    """
    value = client.get(REVOCATIONS_SINCE)
    return int(value) if value is not None else _mark_revocations_lost(client)


def _mark_revocations_lost(client: redis.Redis) -> int:
    # Redis time, not ours: every verifier and auth compare against the same clock.
    seconds, _ = client.time()
    client.set(REVOCATIONS_SINCE, int(seconds) - REVOCATION_CLOCK_LEEWAY_S, nx=True)
    return int(client.get(REVOCATIONS_SINCE) or 0)  # ours, or a racing writer's


class TokenVerifier:
    """Checks access tokens against a key resolver, the expected claims and revocations."""

    # A token whose signature and claims passed is remembered for this long (never past its
    # ``exp``), so a client polling with one token pays the Ed25519 check and the JSON parsing
    # once, not on every request (about a tenth of a read's CPU in the gateway's profile).
    # The revocation look-up still runs on every request: revoking works at once. A signing
    # key withdrawn from the JWKS is honoured only once the key-set cache (300 s) expires
    # anyway; this adds at most a minute to that. With a ``RevocationWatch`` the revocation
    # look-up is answered from memory too, but only while Redis keeps it exact.
    REMEMBER_S = 60.0
    REMEMBER_MAX = 4096

    def __init__(
        self,
        keys: KeyResolver,
        issuer: str,
        audience: str,
        redis_client: redis.Redis,
        remember_s: float = REMEMBER_S,
        revocations: RevocationWatch | None = None,
    ) -> None:
        self.keys = keys
        self.remember_s = remember_s
        self.issuer = issuer
        self.audience = audience
        self.redis = redis_client
        self.revocations = revocations
        # token -> (remember until, principal, iat)
        self._verified: dict[str, tuple[float, Principal, int]] = {}

    def verify(self, token: str) -> Principal:
        """Return the token's principal or raise ``Unauthorized``."""
        principal, issued_at = self._signed(token)
        revoked, complete_since = self._revocation_state(principal)
        if revoked:
            raise Unauthorized("The token has been revoked.")
        if issued_at < complete_since:
            raise Unauthorized("The token predates a loss of revocation data; refresh it.")
        return principal

    def _revocation_state(self, principal: Principal) -> tuple[bool, int]:
        """Whether the token or its session is marked revoked, and since when the marks are
        complete: from the watch's memory when it can answer, else from Redis."""
        keys = (revoked_jti_key(principal.jti), revoked_sid_key(principal.sid), REVOCATIONS_SINCE)
        watch = self.revocations
        known = watch.lookup(keys) if watch is not None else None
        if known is not None:
            return bool(known[0] or known[1]), int(known[2])
        generation = watch.generation if watch is not None else 0
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for key in keys[:2]:
                    pipe.exists(key)
                pipe.get(REVOCATIONS_SINCE)
                jti_marked, sid_marked, since = pipe.execute()
            complete_since = int(since) if since is not None else _mark_revocations_lost(self.redis)
        except (redis.RedisError, ValueError) as exc:
            DEPENDENCY_ERRORS.labels("redis").inc()
            raise Unavailable("Token revocation cannot be checked right now.") from exc
        if watch is not None and since is not None:
            watch.remember(
                generation, dict(zip(keys, (jti_marked, sid_marked, complete_since), strict=True))
            )
        return bool(jti_marked or sid_marked), complete_since

    def _signed(self, token: str) -> tuple[Principal, int]:
        """The principal and ``iat`` of a correctly signed, unexpired token (revocation is
        not checked here), from memory when this token passed recently."""
        now = time.time()
        remembered = self._verified.get(token)
        if remembered is not None and now < remembered[0]:
            return remembered[1], remembered[2]
        principal, issued_at = self._decode(token)
        if self.remember_s <= 0:
            return principal, issued_at
        if len(self._verified) >= self.REMEMBER_MAX:
            # Forget the oldest quarter (insertion order) rather than grow without bound.
            for old in list(self._verified)[: self.REMEMBER_MAX // 4]:
                self._verified.pop(old, None)
        self._verified[token] = (
            min(principal.expires_at, now + self.remember_s),
            principal,
            issued_at,
        )
        return principal, issued_at

    def _decode(self, token: str) -> tuple[Principal, int]:
        """Check algorithm, key, signature and claims; the principal and the token's ``iat``."""
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
            issued_at, expires = int(claims["iat"]), float(claims["exp"])
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized("The token is not valid.") from exc
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Unauthorized("The token is not valid.")
        jti, sid = str(claims["jti"]), str(claims["sid"])
        principal = Principal(user_id, tuple(str(r) for r in roles), jti, sid, token, expires)
        return principal, issued_at

    def revoked(self, principal: Principal) -> bool:
        """True when ``principal``'s token would be refused now (revoked by a logout or a
        disabled account, or older than lost revocation data): what a long-lived stream
        asks now and then. The same checks as :meth:`verify`; ``Unavailable`` when Redis
        cannot tell."""
        try:
            self.verify(principal.token)
        except Unauthorized:
            return True
        return False


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
