"""The tokens of one signed-in session, shared by every ``Client`` forked from it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Refresh this long before the access token expires (at most a tenth of its lifetime), so
# a request never carries a token that lapses on its way (clock skew, a slow upload start).
EARLY_REFRESH_S = 30.0


@dataclass
class Credentials:
    """Access token, refresh token and when the access token expires (POSIX seconds).

    ``on_change`` is called after every login or refresh (the CLI saves the session there).
    The lock serialises refreshes: a refresh token works once (reuse revokes the whole
    session), so two threads must never both spend it.
    """

    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: float | None = None
    margin: float = EARLY_REFRESH_S
    on_change: Callable[[Credentials], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def update(self, tokens: dict[str, Any]) -> None:
        """Take the tokens of a login or refresh answer."""
        self.access_token = str(tokens["access_token"])
        self.refresh_token = tokens.get("refresh_token") or self.refresh_token
        expires_in = tokens.get("expires_in")
        self.expires_at = time.time() + float(expires_in) if expires_in else None
        self.margin = (
            min(EARLY_REFRESH_S, float(expires_in) / 10) if expires_in else EARLY_REFRESH_S
        )
        if self.on_change is not None:
            self.on_change(self)

    def clear(self) -> None:
        """Forget every token (after logout, or when the session was revoked)."""
        self.access_token = self.refresh_token = self.expires_at = None
        if self.on_change is not None:
            self.on_change(self)

    def due_for_refresh(self) -> bool:
        """True when a refresh token exists and the access token is (nearly) expired."""
        if not self.refresh_token:
            return False
        if not self.access_token:
            return True
        return self.expires_at is not None and time.time() >= self.expires_at - self.margin

    def as_dict(self) -> dict[str, Any]:
        """The tokens as JSON-ready data (what the CLI stores)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
        }
