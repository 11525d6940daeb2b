"""Forwarding to auth and upload, streamed both ways so no body is ever held whole.

``/v1/auth/*`` and the JWKS go to auth; ``upload-complete``, ``PUT .../content`` and the seed
``/task/upload/<id>`` go to upload. The request body is read from ``wsgi.input`` in 64 KiB
chunks as the upstream consumes it, the response is relayed chunk by chunk, undecoded (so
``Content-Encoding``/``Content-Length`` stay true). Hop-by-hop headers are dropped both ways;
of the client's other headers only those the upstreams read are sent. An upstream error
that is not JSON (its HTTP server refusing the request) becomes problem+json here.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import IO, Any

import requests
from backdrop_common import auth_schemas
from backdrop_common.errors import (
    BackdropError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    ValidationFailed,
)
from backdrop_common.tokens import current_principal, require_auth
from backdrop_common.upload_schemas import UploadCompleteSchema
from flask import Blueprint, Response, g, request
from prometheus_client import Counter

from gateway import schemas, taskops
from gateway.apidoc import operation
from gateway.resources import resources

bp = Blueprint("forward", __name__)
CHUNK = 64 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# The client headers an upstream reads (credentials, body type, content negotiation, the
# user agent auth records). Nothing else is copied: a client's X-Real-IP, Forwarded or
# X-Forwarded-* could only mislead an upstream, and 90-odd junk headers plus ours pushed
# auth past its own 100-header limit (an HTML 431 relayed instead of problem+json).
# Host, Content-Length and X-Forwarded-* are set by the gateway (or requests) instead.
FORWARDED_REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "authorization",
        "content-type",
        "idempotency-key",
        "user-agent",
    }
)
# Only plain segments: "..", "%2e%2e" or "//" must not let a client walk to internal routes.
_AUTH_PATH = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\Z")
FORWARD_FAILURES = Counter(
    "backdrop_gateway_forward_failures_total", "Forwarded requests that got no answer", ["upstream"]
)


class _Body:
    """The client's body as chunks, with its length so requests sends Content-Length."""

    def __init__(self, stream: IO[bytes], length: int) -> None:
        self.stream = stream
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.stream.read(CHUNK):
            yield chunk


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


class _Relayed(Response):
    """A response that adds no Content-Type of its own (the upstream's is kept as is)."""

    default_mimetype = None


def _client_address() -> str:
    peer = request.remote_addr or ""
    previous = request.headers.get("X-Forwarded-For")
    if resources().settings.trust_forwarded_for and previous:
        return f"{previous}, {peer}"
    return peer


def outgoing_headers() -> dict[str, str]:
    named = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() in FORWARDED_REQUEST_HEADERS and name.lower() not in named
    }
    headers["X-Forwarded-For"] = _client_address()
    headers["X-Forwarded-Proto"] = request.scheme
    # No X-Forwarded-Host: the Host header is the client's choice, and no upstream may build
    # a URL from it (public URLs come from BACKDROP_PUBLIC_URL).
    headers["X-Request-ID"] = g.get("request_id", "")
    return headers


def _body() -> _Body | Iterator[bytes] | bytes | None:
    length = request.content_length
    if length == 0:
        return b""
    if length is None and request.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return None
    stream = request.stream
    return _chunks(stream) if length is None else _Body(stream, length)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _problem_for(status: int, upstream: str) -> BackdropError:
    """The problem for an upstream error that came as HTML/text (its HTTP server refused the
    request before the app saw it): same meaning, the API's shape, nothing of the page."""
    if status >= 500:
        return Unavailable(f"The {upstream} service could not answer.")
    known: dict[int, BackdropError] = {
        404: NotFound("No such resource."),
        405: MethodNotAllowed("This method is not allowed on this path."),
        413: PayloadTooLarge("The request is too large."),
    }
    return known.get(status) or ValidationFailed(f"The {upstream} service refused the request.")


def forward(base_url: str, path: str, upstream: str) -> Response:
    """Send the current request to ``base_url + path`` and relay the answer as it arrives."""
    settings = resources().settings
    url = base_url.rstrip("/") + urllib.parse.quote(path)
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    try:
        resp = resources().http.request(
            request.method,
            url,
            headers=outgoing_headers(),
            data=_body(),
            stream=True,
            allow_redirects=False,
            timeout=(settings.forward_connect_timeout_s, settings.forward_read_timeout_s),
        )
    except requests.RequestException as exc:
        FORWARD_FAILURES.labels(upstream).inc()
        # The detail names the role, never the host: internal addresses must not leak.
        raise Unavailable(f"The {upstream} service is not reachable.") from exc
    if resp.status_code >= 400 and not _is_json(resp.headers.get("Content-Type", "")):
        resp.close()
        raise _problem_for(resp.status_code, upstream)
    named = {t.strip().lower() for t in resp.headers.get("Connection", "").split(",")}
    headers = [
        (name, value)
        for name, value in resp.raw.headers.items()
        if name.lower() not in HOP_BY_HOP
        and name.lower() not in named
        and name.lower() != "x-request-id"
    ]
    relayed = _Relayed(
        resp.raw.stream(CHUNK, decode_content=False),
        status=resp.status_code,
        headers=headers,
        direct_passthrough=True,
    )
    relayed.call_on_close(resp.close)
    return relayed


def _raise_body_cap_to_upload_limit() -> None:
    # Content routes stream whole files: the JSON body cap must not apply. (Flask treats
    # None as "use the app config", so the cap becomes the upload limit plus room for a
    # multipart envelope; the upload service checks the task's exact declared size.)
    request.max_content_length = resources().settings.max_upload_bytes + 1024 * 1024


# OPTIONS is forwarded too: Flask's automatic answer would advertise this catch-all's
# methods in ``Allow`` instead of the ones the auth route really takes.
@bp.route(
    "/v1/auth/<path:path>",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    provide_automatic_options=False,
)
def auth_proxy(path: str) -> Response:
    """Forward an auth request (register, login, refresh, logout, me) to the auth service."""
    if not _AUTH_PATH.match(path):
        raise NotFound("No such resource.")
    return forward(resources().settings.auth_url, f"/v1/auth/{path}", "auth")


@bp.get("/.well-known/jwks.json")
@operation(tag="auth", auth=False, responses={200: auth_schemas.JwksSchema, 503: None})
def jwks() -> Response:
    """The public keys that verify access tokens."""
    return forward(resources().settings.auth_url, "/.well-known/jwks.json", "auth")


# 400: a malformed multipart form; 409: the task was cancelled or expired before the bytes came.
UPLOAD_RESPONSES: dict[int, Any] = {
    202: schemas.TaskEnvelopeSchema,
    400: None,
    404: None,
    409: None,
    413: None,
    422: None,
    503: None,
}


def _to_upload(task_id: uuid.UUID) -> Response:
    # Ownership is checked here too, so another user's id is a 404 before any byte moves.
    taskops.owned(task_id, current_principal(), "id")
    return forward(resources().settings.upload_url, request.path, "upload")


@bp.post("/v1/tasks/<uuid:task_id>/upload-complete")
@operation(
    tag="uploads",
    path=("task_id",),
    body=UploadCompleteSchema,
    body_required=False,
    responses={
        202: schemas.TaskEnvelopeSchema,
        400: None,
        404: None,
        409: None,
        413: None,
        422: None,
        503: None,
    },
)
@require_auth()
def upload_complete(task_id: uuid.UUID) -> Response:
    """Tell Backdrop the upload is done; it is verified and the task queued."""
    return _to_upload(task_id)


@bp.put("/v1/tasks/<uuid:task_id>/content")
@operation(
    tag="uploads",
    path=("task_id",),
    body=("application/octet-stream", "The file's bytes"),
    body_required=False,  # an empty file is sent as no body; a replay reads none
    responses=UPLOAD_RESPONSES,
)
@require_auth()
def upload_content(task_id: uuid.UUID) -> Response:
    """Stream the file's bytes through Backdrop (when a presigned upload is not possible)."""
    _raise_body_cap_to_upload_limit()
    return _to_upload(task_id)


@bp.post("/task/upload/<uuid:task_id>")
@operation(
    tag="seed aliases",
    path=("task_id",),
    body=("application/octet-stream", "Raw bytes, or multipart/form-data with field 'file'"),
    body_required=False,
    responses=UPLOAD_RESPONSES,
)
@require_auth()
def seed_upload(task_id: uuid.UUID) -> Response:
    """Seed alias: upload the file's bytes (raw body or multipart field ``file``)."""
    _raise_body_cap_to_upload_limit()
    return _to_upload(task_id)
