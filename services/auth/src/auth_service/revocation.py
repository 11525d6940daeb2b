"""Revocation marks in Redis that every token verifier checks (keys from backdrop_common)."""

from __future__ import annotations

import redis
from backdrop_common.errors import Unavailable
from backdrop_common.redis_keys import revoked_jti_key, revoked_sid_key


def revoke(
    client: redis.Redis, ttl: int, *, sids: tuple[str, ...] = (), jti: str | None = None
) -> None:
    """Mark sessions ``sids`` (and token ``jti``) revoked for ``ttl`` seconds."""
    # ttl is the access-token lifetime: past it every token these marks cover has expired.
    keys = [revoked_sid_key(sid) for sid in sids]
    if jti:
        keys.append(revoked_jti_key(jti))
    try:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, "1", ex=ttl)
            pipe.execute()
    except redis.RedisError as exc:
        raise Unavailable("Revocation cannot be recorded right now; try again.") from exc
