"""gunicorn's own answers in the API's shape: problem+json error pages, no product banner.

gunicorn refuses some requests before any application code runs (a header over
``limit_request_field_size``, a request line over ``limit_request_line``, malformed HTTP)
and answers them with an HTML page; every response also carries ``Server: gunicorn``. The
API promises problem+json for every error, and a version banner only helps an attacker
pick exploits. gunicorn has no setting for either, so ``install()`` (called in each worker
from ``gunicorn_conf.post_fork``) replaces its error writer and its server name.
"""

from __future__ import annotations

import json
from typing import Any

SERVER_NAME = "backdrop"
# gunicorn status -> the stable code the API uses for it.
CODES = {
    400: "validation_error",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "header_too_large",
    501: "not_implemented",
}


def problem_bytes(status: int, reason: str) -> bytes:
    """A complete HTTP/1.1 response: ``status`` as problem+json, connection closed.

    gunicorn's message (it may quote the offending header) is not echoed: the reason phrase
    says enough.
    """
    code = CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    body = json.dumps(
        {
            "type": f"urn:backdrop:problem:{code}",
            "title": reason,
            "status": status,
            "detail": f"The server refused the request: {reason.lower()}.",
            "code": code,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n"
    )
    return head.encode("latin-1") + body


def install() -> None:
    """Patch gunicorn in this process (idempotent)."""
    from gunicorn import util
    from gunicorn.http import wsgi

    def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        util.write_nonblock(sock, problem_bytes(status_int, reason))

    util.write_error = write_error
    # Read by gunicorn.http.wsgi.Response for the Server header of every response.
    wsgi.SERVER = SERVER_NAME
