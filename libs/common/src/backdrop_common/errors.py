"""Errors every service raises, and the one handler set that renders them.

Hierarchy::

    BackdropError (500 internal_error)
    ├── ValidationFailed (400 validation_error)
    ├── Unauthorized (401 unauthorized)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── RequestTimeout (408 request_timeout)
    ├── Conflict (409 conflict)
    │   ├── TaskFinished (409 task_finished)
    │   └── TaskNotSucceeded (409 task_not_succeeded)
    ├── PayloadTooLarge (413 payload_too_large)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── UploadInvalid (422 upload_invalid)
    ├── IdempotencyMismatch (422 idempotency_mismatch)
    ├── RateLimited (429 rate_limited)
    └── Unavailable (503 unavailable)

Every response is RFC 9457 ``application/problem+json``; nothing internal (tracebacks, SQL,
hostnames) reaches the client, the log keeps it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class BackdropError(Exception):
    """An unexpected failure; the client learns nothing more than that."""

    status = 500
    code = "internal_error"
    title = "Internal server error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs."""
        return {}

    def body(self) -> dict[str, Any]:
        """The problem+json document."""
        doc: dict[str, Any] = {
            "type": f"urn:backdrop:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        doc.update(self.extra)
        return doc


class ValidationFailed(BackdropError):
    """The request body or query failed validation; ``errors`` maps fields to messages."""

    status, code, title = 400, "validation_error", "Invalid request"

    def __init__(self, detail: str | None = None, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail or "The request is not valid.", errors=errors or {})


class Unauthorized(BackdropError):
    """Missing, malformed, expired or revoked credentials."""

    status, code, title = 401, "unauthorized", "Unauthorized"

    def headers(self) -> dict[str, str]:
        """Point the client at bearer authentication."""
        return {"WWW-Authenticate": 'Bearer realm="backdrop"'}


class Forbidden(BackdropError):
    """Authenticated, but the role does not allow this."""

    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(BackdropError):
    """No such resource (also for resources that belong to someone else)."""

    status, code, title = 404, "not_found", "Not found"


class MethodNotAllowed(BackdropError):
    """The route exists but not with this method."""

    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Conflict(BackdropError):
    """The request conflicts with the current state (e.g. a taken username)."""

    status, code, title = 409, "conflict", "Conflict"


class TaskFinished(Conflict):
    """The task is already in a terminal state."""

    code, title = "task_finished", "Task already finished"


class TaskNotSucceeded(Conflict):
    """The task has no result because it has not succeeded."""

    code, title = "task_not_succeeded", "Task has not succeeded"


class RequestTimeout(BackdropError):
    """The client stopped sending the request body it declared."""

    status, code, title = 408, "request_timeout", "Request timeout"


class PayloadTooLarge(BackdropError):
    """The body (or the declared upload) is bigger than allowed."""

    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(BackdropError):
    """The body is not in a media type this endpoint reads."""

    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class UploadInvalid(BackdropError):
    """The uploaded object is missing or does not match what was declared."""

    status, code, title = 422, "upload_invalid", "Upload invalid"


class IdempotencyMismatch(BackdropError):
    """An Idempotency-Key was reused with a different request body."""

    status, code, title = 422, "idempotency_mismatch", "Idempotency key reused"


class RateLimited(BackdropError):
    """Too many requests; retry after ``retry_after`` seconds."""

    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str | None = None, retry_after: int = 60) -> None:
        super().__init__(detail or "Too many requests; slow down.")
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        """Tell the client when to come back."""
        return {"Retry-After": str(self.retry_after)}


class Unavailable(BackdropError):
    """A dependency (database, Redis, storage, another service) is not reachable, or the
    server is full; ``retry_after`` (seconds) is sent when known."""

    status, code, title = 503, "unavailable", "Service unavailable"

    def __init__(self, detail: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Tell the client when to come back, when we know."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


_HTTP_MAP: dict[int, type[BackdropError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
    503: Unavailable,
}


def problem_response(error: BackdropError) -> Response:
    """Render ``error`` as an ``application/problem+json`` response."""
    resp = Response(json.dumps(error.body()), status=error.status, mimetype=PROBLEM_JSON)
    for name, value in error.headers().items():
        resp.headers[name] = value
    return resp


def _from_http_exception(exc: HTTPException) -> BackdropError:
    code = exc.code or 500
    cls = _HTTP_MAP.get(code)
    if cls is None:
        err = BackdropError(exc.description if code < 500 else None)
        err.status = code
        return err
    if cls is ValidationFailed:
        return ValidationFailed("The request body could not be read (malformed JSON?).")
    if cls is MethodNotAllowed:
        return MethodNotAllowed("This method is not allowed on this path.")
    if cls is NotFound:
        return NotFound("No such resource.")
    if cls is PayloadTooLarge:
        return PayloadTooLarge("The request body is too large.")
    return cls()


def register_error_handlers(app: Flask) -> None:
    """Make every error ``app`` can raise come out as problem+json."""

    @app.errorhandler(BackdropError)
    def _backdrop(exc: BackdropError) -> Response:
        if exc.status >= 500:
            log.error("request failed: %s", exc.detail, exc_info=exc)
        return problem_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        resp = problem_response(_from_http_exception(exc))
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            resp.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response(BackdropError())
