"""Password hashing with argon2id: constant-ish timing whether or not the account exists, and
a bounded number of computations at once so registrations cannot starve logins."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from backdrop_common.errors import Unavailable
from backdrop_common.green import gevent_active

T = TypeVar("T")
SLOT_WAIT_S = 10.0


def _off_the_loop(fn: Callable[[str], T], arg: str) -> T:
    """Run ``fn(arg)`` on a real OS thread when gevent runs this process.

    argon2 is CPU-bound C code: called on a greenlet it would freeze every other request of
    the worker for its whole duration. gevent's thread pool runs it in parallel (argon2-cffi
    releases the GIL) while the greenlet waits.
    """
    if gevent_active():
        from gevent import get_hub

        result: T = get_hub().threadpool.apply(fn, (arg,))
        return result
    return fn(arg)


class Passwords:
    """Hashes and verifies passwords with the configured argon2id cost.

    At most ``max_concurrent`` argon2 computations run at once in this process, and of those
    at most ``max_hashes`` new hashes (registrations, upgrades): a flood of sign-ups waits
    for its own slots while logins keep the rest.
    """

    def __init__(
        self,
        time_cost: int,
        memory_cost: int,
        parallelism: int,
        *,
        max_concurrent: int = 2,
        max_hashes: int = 1,
    ) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        self._slots = threading.BoundedSemaphore(max_concurrent)
        # With a single slot there is nothing to reserve; otherwise keep one for logins.
        self._hash_slots = threading.BoundedSemaphore(max(1, min(max_hashes, max_concurrent - 1)))
        # Verified against when the account does not exist, so both paths cost the same.
        self._dummy = self.hasher.hash(secrets.token_urlsafe(24))

    def _bounded(self, slots: threading.BoundedSemaphore, fn: Callable[[str], T], arg: str) -> T:
        if not slots.acquire(timeout=SLOT_WAIT_S):
            raise Unavailable("Too many sign-ins at once; try again shortly.")
        try:
            return _off_the_loop(fn, arg)
        finally:
            slots.release()

    def hash(self, password: str) -> str:
        """An argon2id hash string (``$argon2id$...``) of ``password``."""
        if not self._hash_slots.acquire(timeout=SLOT_WAIT_S):
            raise Unavailable("Too many registrations at once; try again shortly.")
        try:
            return self._bounded(self._slots, self.hasher.hash, password)
        finally:
            self._hash_slots.release()

    def verify(self, stored: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored``; ``None`` runs a dummy verify and fails."""
        target = stored or self._dummy

        def check(candidate: str) -> bool:
            try:
                return self.hasher.verify(target, candidate)
            except (VerificationError, InvalidHashError):
                return False

        return self._bounded(self._slots, check, password) and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters than the current ones."""
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
