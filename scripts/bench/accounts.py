"""The bench's users: each a ``backdrop_client.Client`` signed in through the gateway.

What the bench adds to the SDK is bookkeeping for its report (503 answers retried, dropped
connections re-sent, the users whose objects are removed at the end) and task creation that
rides out the per-user cap of unfinished tasks instead of failing on its 429.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backdrop_client import ApiError, Client

RETRIED_503: list[str] = []
"""503 answers to POST /v1/tasks that the bench retried with the same Idempotency-Key."""
CONNECTION_RESETS: list[str] = []
"""Requests that failed on a dropped connection and were sent again by the client."""
CREATED_USERS: list[User] = []
"""Every user the bench registered (their S3 objects are removed at the end)."""


def _note_resend(what: str, exc: BaseException) -> None:
    CONNECTION_RESETS.append(f"{what}: {exc}"[:200])


@dataclass
class User:
    """A registered user and a client signed in as them (``client.fork()`` per thread)."""

    user_id: str
    username: str
    client: Client

    @property
    def token(self) -> str:
        """The current access token."""
        return str(self.client.token)


def new_user(base_url: str, prefix: str = "bench") -> User:
    """Register and log in a fresh user through the gateway."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    client = Client(base_url, on_resend=_note_resend)
    registered = client.register(f"{name}@example.com", name, password)
    client.login(name, password)
    user = User(str(registered["id"]), name, client)
    CREATED_USERS.append(user)
    return user


def user_with_a_page(base_url: str, prefix: str) -> tuple[str, str]:
    """A new user with 20 tasks (so ``?limit=20`` returns a full page): its token and the id
    of one of them."""
    user = new_user(base_url, prefix)
    ids = [user.client.create_task("checksum", f"a{n}.bin", 1024)["task"]["id"] for n in range(20)]
    return user.token, str(ids[0])


def close_clients() -> None:
    """Close every bench user's connections: an idle keep-alive connection holds a gunicorn
    worker's graceful stop for its whole keep-alive time (5 s), so this comes before the
    stack is taken down."""
    for user in CREATED_USERS:
        user.client.close()


def create_task(
    client: Client,
    size: int,
    *,
    processor: str = "checksum",
    filename: str = "bench.bin",
    params: dict[str, Any] | None = None,
    quota_wait_s: float = 120.0,
    on_quota: Any = None,
) -> dict[str, Any]:
    """``POST /v1/tasks`` → ``{task, upload}``; on 429 (the per-user cap) waits and retries
    for ``quota_wait_s``, on 503 retries up to three times."""
    # An Idempotency-Key makes a retry after a 503 safe (same key, same body = the same
    # task); the 503 itself is still counted by the services' metrics and reported.
    key = uuid.uuid4().hex
    deadline = time.monotonic() + quota_wait_s
    unavailable = 0
    while True:
        try:
            created: dict[str, Any] = client.create_task(
                processor, filename, size, params=params, idempotency_key=key
            )
            return created
        except ApiError as exc:
            if exc.status == 429 and time.monotonic() < deadline:
                if on_quota is not None:
                    on_quota()
                time.sleep(min(exc.retry_after or 1.0, 0.25))
                continue
            if exc.status == 503 and unavailable < 3:
                unavailable += 1
                RETRIED_503.append(str(exc)[:200])
                time.sleep(0.2)
                continue
            raise


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 timestamp of the API as POSIX seconds (None stays None)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
