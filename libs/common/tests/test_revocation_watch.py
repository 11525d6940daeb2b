"""The revocation watch: token checks answered from memory only while Redis keeps it exact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from backdrop_common.errors import Unauthorized
from backdrop_common.redis_keys import REVOCATIONS_SINCE, revoked_jti_key, revoked_sid_key
from backdrop_common.revocation_watch import WATCH_CLIENT_NAME, RevocationWatch
from backdrop_common.tokens import JWKSKeyResolver, TokenVerifier, revocations_since
from backdrop_testing.tokens import TokenMinter


@pytest.fixture
def watch(redis_client: redis.Redis) -> Iterator[RevocationWatch]:
    watch = RevocationWatch(redis_client, retry_s=0)
    yield watch
    watch.close()


@pytest.fixture
def verifier(
    token_minter: TokenMinter, redis_client: redis.Redis, watch: RevocationWatch
) -> TokenVerifier:
    resolver = JWKSKeyResolver(token_minter.jwks_url)  # type: ignore[attr-defined]
    return TokenVerifier(resolver, "backdrop-auth", "backdrop", redis_client, revocations=watch)


def _look_ups(client: redis.Redis) -> int:
    """How many EXISTS commands Redis has served (the revocation look-up's)."""
    return int(client.info("commandstats").get("cmdstat_exists", {}).get("calls", 0))


def test_a_token_checked_again_costs_no_round_trip(
    token_minter: TokenMinter, verifier: TokenVerifier, redis_client: redis.Redis
) -> None:
    revocations_since(redis_client)  # auth writes the marker before it issues a token
    token = token_minter.mint()
    verifier.verify(token)
    before = _look_ups(redis_client)
    for _ in range(20):
        verifier.verify(token)
    assert _look_ups(redis_client) == before


def test_a_logout_elsewhere_is_refused_on_the_next_request(
    token_minter: TokenMinter, verifier: TokenVerifier, redis_client: redis.Redis
) -> None:
    """Auth (another process) writes the mark; this process's memory must not hide it."""
    token = token_minter.mint()
    principal = verifier.verify(token)
    verifier.verify(token)  # answered from memory now
    redis_client.set(revoked_sid_key(principal.sid), "1", ex=60)
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.verify(token)
    redis_client.delete(revoked_sid_key(principal.sid))
    assert verifier.verify(token) == principal  # taking a mark away is seen too


def test_a_lost_watch_connection_falls_back_to_redis(
    token_minter: TokenMinter, verifier: TokenVerifier, redis_client: redis.Redis
) -> None:
    """Invalidations sent while the watch was disconnected are lost: nothing it remembered
    may answer after that."""
    token = token_minter.mint()
    principal = verifier.verify(token)
    verifier.verify(token)
    for client in redis_client.client_list():  # the watch's connection drops
        if client["name"] == WATCH_CLIENT_NAME:
            redis_client.client_kill_filter(_id=client["id"])
    redis_client.set(revoked_jti_key(principal.jti), "1", ex=60)
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.verify(token)
    redis_client.delete(revoked_jti_key(principal.jti))
    assert verifier.verify(token) == principal


def test_a_value_read_before_a_change_is_not_kept(
    redis_client: redis.Redis, watch: RevocationWatch
) -> None:
    key = revoked_sid_key("s1")
    assert watch.lookup([key]) is None  # connects; nothing known yet
    generation = watch.generation
    read = redis_client.exists(key)  # a request reads "not revoked"...
    redis_client.set(key, "1", ex=60)  # ...a logout lands before it stores what it read
    assert watch.lookup([key]) is None  # applies the invalidation
    watch.remember(generation, {key: read})
    assert watch.lookup([key]) is None  # the stale value was not kept
    watch.remember(watch.generation, {key: 1, REVOCATIONS_SINCE: 5})
    assert watch.lookup([key, REVOCATIONS_SINCE]) == [1, 5]
    redis_client.flushdb()  # Redis lost its data: every remembered value goes
    assert watch.lookup([REVOCATIONS_SINCE]) is None


def test_nothing_is_remembered_without_tracking(redis_client: redis.Redis) -> None:
    """A Redis (or proxy) that refuses CLIENT TRACKING: every check reads Redis."""
    broken = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    watch = RevocationWatch(broken)
    assert watch.lookup([REVOCATIONS_SINCE]) is None
    watch.remember(watch.generation, {REVOCATIONS_SINCE: 5})
    assert watch.lookup([REVOCATIONS_SINCE]) is None
