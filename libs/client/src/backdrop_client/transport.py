"""HTTP plumbing of the client: base URL, bearer token, refresh on expiry, problem errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from backdrop_client.credentials import Credentials
from backdrop_client.errors import ApiError, Unreachable

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
ResendHook = Callable[[str, BaseException], None]
"""Called with ``(what, error)`` when a request is sent again after a dropped connection."""


def default_url() -> str:
    """The gateway URL from ``BACKDROP_URL`` or the local default."""
    return os.environ.get("BACKDROP_URL", "http://127.0.0.1:8080")


def new_session(pool_size: int = 10) -> requests.Session:
    """A ``requests`` session that keeps connections alive and retries failed connects.

    Only connection attempts are retried here (nothing reached the server yet); a request
    cut off mid-way is re-sent by ``Transport.request`` when it is safe to repeat.
    """
    http = requests.Session()
    retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.1)
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def _replayable(kwargs: dict[str, Any]) -> bool:
    """Whether the request body can be sent a second time (not a stream already read)."""
    data = kwargs.get("data")
    return data is None or isinstance(data, bytes | str | dict)


class Transport:
    """Sends requests to a Backdrop gateway with the session's bearer token.

    One ``Transport`` (and so one ``Client``) uses one ``requests.Session``, which is not
    thread-safe: give each thread its own with ``fork()``; forks share the ``Credentials``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        refresh_token: str | None = None,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        on_resend: ResendHook | None = None,
    ) -> None:
        self.base_url = (base_url or default_url()).rstrip("/")
        self.credentials = credentials or Credentials(token, refresh_token)
        self.timeout = timeout
        self.http = session or new_session()
        self.on_resend = on_resend

    @property
    def token(self) -> str | None:
        """The current access token."""
        return self.credentials.access_token

    @token.setter
    def token(self, value: str | None) -> None:
        self.credentials.access_token = value

    @property
    def refresh_token(self) -> str | None:
        """The current refresh token (kept after ``login``, rotated by each refresh)."""
        return self.credentials.refresh_token

    def url(self, path: str) -> str:
        """Absolute URL of an API path (an absolute URL is returned as is)."""
        return path if "://" in path else f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        check: bool = True,
        auth: bool = True,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; raises ``ApiError`` on a 4xx/5xx answer unless ``check=False``.

        With ``auth`` the access token is sent, refreshed first when it is about to expire,
        and once more after a 401 if the refresh token can renew it. ``idempotent`` (default:
        the method's own nature) allows one resend after a dropped connection.
        """
        kwargs.setdefault("timeout", self.timeout)
        repeatable = _replayable(kwargs)
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT
        if auth and self.credentials.due_for_refresh():
            self.refresh(stale=self.credentials.access_token)
        sent_with = self.credentials.access_token if auth else None
        resp = self._send(method, path, sent_with, idempotent and repeatable, kwargs)
        if resp.status_code == 401 and sent_with and self.credentials.refresh_token and repeatable:
            resp.close()
            self.refresh(stale=sent_with)
            resp = self._send(method, path, self.credentials.access_token, idempotent, kwargs)
        if check and resp.status_code >= 400:
            error = ApiError.from_response(resp)
            resp.close()
            raise error
        return resp

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request`` and the decoded JSON answer (None for an empty body)."""
        resp = self.request(method, path, **kwargs)
        return resp.json() if resp.content else None

    def _send(
        self, method: str, path: str, token: str | None, resend: bool, kwargs: dict[str, Any]
    ) -> requests.Response:
        url = self.url(path)
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self.http.request(method, url, headers=headers, **kwargs)
        except requests.ConnectionError as exc:
            # A keep-alive connection the server closed just as it was reused: safe to send
            # again only when repeating the request cannot do anything twice.
            if not resend or isinstance(exc, requests.ConnectTimeout):
                raise Unreachable.from_exception(url.split("?")[0], exc) from exc
            if self.on_resend is not None:
                self.on_resend(f"{method} {path}", exc)
        except requests.RequestException as exc:
            raise Unreachable.from_exception(url.split("?")[0], exc) from exc
        try:
            return self.http.request(method, url, headers=headers, **kwargs)
        except requests.RequestException as exc:
            raise Unreachable.from_exception(url.split("?")[0], exc) from exc

    def refresh(self, stale: str | None = None) -> None:
        """Trade the refresh token for new tokens (``POST /v1/auth/refresh``).

        ``stale`` is the access token the caller found wanting: if another thread has
        already replaced it, that refresh is used instead of spending the token twice.
        A refused refresh (expired, revoked, reused) clears the credentials and raises.
        """
        creds = self.credentials
        with creds.lock:
            if stale is not None and creds.access_token not in (None, stale):
                return
            if not creds.refresh_token:
                raise ApiError(401, {"code": "unauthorized", "detail": "Not signed in."})
            resp = self.request(
                "POST",
                "/v1/auth/refresh",
                auth=False,
                check=False,
                idempotent=False,
                json={"refresh_token": creds.refresh_token},
            )
            if resp.status_code == 200:
                creds.update(resp.json())
                return
            error = ApiError.from_response(resp)
            if resp.status_code in (400, 401):
                creds.clear()
            raise error
