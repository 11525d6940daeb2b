"""Login throttling (OWASP style) and registration limits, counted in Redis.

Login failures are counted in three places, each a Redis hash ``{n, last}`` that expires a
window after its last failure:

- the (account, address) pair: ``login_max_failures_per_pair`` failures lock that pair
  until the window has passed (a typo-prone user elsewhere is not affected);
- the account (the user's id, whichever of email or username was typed; an unknown
  identifier counts under its own name, so existing and missing accounts look alike): past
  ``login_free_failures_per_account`` failures every further attempt **from an address
  that has failed recently** must wait a delay that doubles with each failure (capped at
  ``login_max_delay_s``). An address with no failures skips this wait, so a guesser
  spread over many addresses cannot lock the owner out;
- the address: past ``login_max_failures_per_ip`` failures (any account) its attempts are
  spaced the same progressive way instead of being refused for the whole window, so a
  user sharing an address with a guesser is slowed, not locked out.

A refused attempt is a 429 with ``Retry-After`` and is not counted (the password is not
even checked). Registrations are limited per address and globally with ``limits``.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from backdrop_common.errors import RateLimited, Unavailable
from backdrop_common.redis_keys import RATELIMIT_PREFIX, login_failure_keys
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from auth_service.settings import AuthSettings


def _digest(text: str) -> str:
    # Hashed: bounded length, no separators, and no login names or addresses readable in Redis.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class Attempt:
    """One login attempt: which account it aims at and where it comes from."""

    account: str
    ip: str

    @classmethod
    def of(cls, user_id: uuid.UUID | str | None, identifier: str, ip: str) -> Attempt:
        """The attempt on ``user_id``'s account (or on the unknown ``identifier``)."""
        account = str(user_id) if user_id else "unknown:" + identifier.strip().lower()
        return cls(_digest(account), _digest(ip))


@contextmanager
def _redis_errors(action: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        # Fail closed: without counters, guessing would be unlimited.
        raise Unavailable(f"{action} is unavailable right now.") from exc


class LoginThrottle:
    """Counts failed logins per pair, account and address; refuses attempts that come early."""

    def __init__(self, client: redis.Redis, settings: AuthSettings) -> None:
        self.redis = client
        self.s = settings

    def _keys(self, attempt: Attempt) -> tuple[str, str, str]:
        return login_failure_keys(attempt.account, attempt.ip)

    def _spacing(self, failures: int, free: int) -> float:
        """The wait after the last failure once ``failures`` exceeds the ``free`` ones."""
        if failures < free:
            return 0.0
        return float(
            min(self.s.login_max_delay_s, self.s.login_delay_base_s * 2 ** (failures - free))
        )

    def check(self, attempt: Attempt) -> None:
        """Raise ``RateLimited`` (with the wait) if this attempt comes too early."""
        with _redis_errors("Login"), self.redis.pipeline(transaction=False) as pipe:
            for key in self._keys(attempt):
                pipe.hmget(key, "n", "last")
            (pair, account, address) = [
                (int(n or 0), float(last or 0)) for n, last in pipe.execute()
            ]
        now = time.time()
        waits = [0.0]
        if pair[0] >= self.s.login_max_failures_per_pair:
            waits.append(pair[1] + self.s.login_window_seconds - now)
        if address[0] > 0:  # only addresses that failed recently wait on the account
            free = self.s.login_free_failures_per_account
            waits.append(account[1] + self._spacing(account[0], free) - now)
        waits.append(address[1] + self._spacing(address[0], self.s.login_max_failures_per_ip) - now)
        wait = max(waits)
        if wait > 0:
            raise RateLimited(
                "Too many failed sign-in attempts; try again later.",
                retry_after=math.ceil(wait),
            )

    def failed(self, attempt: Attempt) -> None:
        """Count a failed attempt for the pair, the account and the address."""
        windows = (
            self.s.login_window_seconds,
            self.s.login_account_window_s,
            self.s.login_window_seconds,
        )
        now = repr(time.time())
        with _redis_errors("Login"), self.redis.pipeline(transaction=True) as pipe:
            for key, window in zip(self._keys(attempt), windows, strict=True):
                pipe.hincrby(key, "n", 1)
                pipe.hset(key, "last", now)
                pipe.expire(key, window)
            pipe.execute()

    def succeeded(self, attempt: Attempt) -> None:
        """Forget this pair's own typos; the account's and the address's counts stay."""
        with _redis_errors("Login"):
            self.redis.delete(self._keys(attempt)[0])


class RegistrationLimiter:
    """At most ``register_max_per_ip`` sign-ups per address per ``register_window_s`` and
    ``register_max_global_per_minute`` in all; every attempt counts, taken or not."""

    def __init__(self, settings: AuthSettings) -> None:
        self.storage = RedisStorage(
            settings.redis_url,
            key_prefix=RATELIMIT_PREFIX,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
        )
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.per_ip = RateLimitItemPerSecond(
            settings.register_max_per_ip, settings.register_window_s, namespace="register-ip"
        )
        self.overall = RateLimitItemPerSecond(
            settings.register_max_global_per_minute, 60, namespace="register-all"
        )

    def hit(self, ip: str) -> None:
        """Count a registration from ``ip``; ``RateLimited`` when a limit is reached."""
        with _redis_errors("Registration"):
            for item, ids in ((self.per_ip, (_digest(ip),)), (self.overall, ("all",))):
                if not self.limiter.hit(item, *ids):
                    reset_at = self.limiter.get_window_stats(item, *ids).reset_time
                    raise RateLimited(
                        "Too many registrations; try again later.",
                        retry_after=math.ceil(reset_at - time.time()),
                    )

    def close(self) -> None:
        """Release the storage's Redis connections."""
        self.storage.storage.close()
