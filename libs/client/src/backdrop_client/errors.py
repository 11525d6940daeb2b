"""What the client raises.

BackdropError                 anything this client raises on purpose
 ├── ApiError                 the API answered with a problem (RFC 9457 problem+json)
 ├── StorageError             object storage refused a presigned upload
 └── Unreachable              no answer at all: connection refused, DNS, timeout
"""

from __future__ import annotations

import re
from typing import Any

import requests


class BackdropError(Exception):
    """Base of every error the client raises on purpose."""


class ApiError(BackdropError):
    """An error response from the API, carrying its problem document."""

    def __init__(self, status: int, problem: dict[str, Any], retry_after: float | None = None):
        self.status = status
        self.problem = problem
        self.retry_after = retry_after
        super().__init__(self.summary())

    @classmethod
    def from_response(cls, resp: requests.Response) -> ApiError:
        """Build from an error response (a non-JSON body becomes ``http_error``)."""
        try:
            problem = resp.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            text = " ".join(resp.text.split())[:200]
            problem = {"code": "http_error", "title": resp.reason or "HTTP error", "detail": text}
        try:
            retry_after: float | None = float(resp.headers["Retry-After"])
        except (KeyError, ValueError):
            retry_after = None
        return cls(resp.status_code, problem, retry_after)

    @property
    def code(self) -> str:
        """The stable problem code (``validation_error``, ``not_found``, ...)."""
        return str(self.problem.get("code") or "")

    @property
    def title(self) -> str:
        """The problem's one-line title."""
        return str(self.problem.get("title") or "")

    @property
    def detail(self) -> str:
        """What went wrong with this request."""
        return str(self.problem.get("detail") or "")

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """``{field: [messages]}`` of a validation problem (nested fields flattened with dots)."""
        return _flatten(self.problem.get("errors") or {})

    def summary(self) -> str:
        """The problem in one line: status, code, title/detail and every field error."""
        head = f"{self.status} {self.code}" if self.code else str(self.status)
        text = self.detail or self.title
        fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in self.field_errors.items())
        return f"{head}: {text}" + (f" ({fields})" if fields else "")


class StorageError(BackdropError):
    """Object storage refused a presigned upload (its S3 error code and message)."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.code = _xml_text(body, "Code") or "http_error"
        message = _xml_text(body, "Message") or " ".join(body.split())[:200]
        super().__init__(f"storage answered {status} {self.code}: {message}")


class Unreachable(BackdropError):
    """The server gave no answer: the URL it tried and why."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")

    @classmethod
    def from_exception(cls, url: str, exc: requests.RequestException) -> Unreachable:
        """Describe a transport failure in a few words (not urllib3's nested repr)."""
        if isinstance(exc, requests.Timeout):
            return cls(url, "no answer in time")
        text = str(exc)
        for known in ("Connection refused", "Name or service not known", "Connection reset"):
            if known in text:
                return cls(url, known.lower())
        return cls(url, type(exc).__name__)


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(errors, dict):
        out: dict[str, list[str]] = {}
        for key, value in errors.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(errors, list) and all(isinstance(m, str) for m in errors):
        return {prefix.rstrip("."): list(errors)}
    return {prefix.rstrip("."): [str(errors)]}


def _xml_text(body: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}>([^<]*)</{tag}>", body)
    return match.group(1) if match else None
