"""Calls from the gateway to the other services (besides plain forwarding)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import requests
from backdrop_common.errors import Unavailable
from flask import g

from gateway.resources import resources

log = logging.getLogger(__name__)


def _post_retrying_once(
    http: requests.Session, url: str, headers: dict[str, str], timeout: tuple[float, float]
) -> requests.Response:
    # A pooled keep-alive connection that the upload service has just closed fails with a
    # connection error; asking for instructions again is idempotent, so retry once.
    try:
        return http.post(url, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.ConnectionError as exc:
        log.info("upload instructions: retrying after %s", type(exc).__name__)
        return http.post(url, headers=headers, timeout=timeout, allow_redirects=False)


def upload_instructions(task_id: uuid.UUID | str, token: str) -> dict[str, Any] | None:
    """Ask the upload service how the client should send the bytes of ``task_id``.

    The caller's own bearer token goes along, so the upload service checks ownership itself
    instead of trusting the gateway blindly.
    """
    res = resources()
    url = f"{res.settings.upload_url}/internal/tasks/{task_id}/upload-instructions"
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": g.get("request_id", "")}
    timeout = (res.settings.forward_connect_timeout_s, res.settings.internal_timeout_s)
    detail = "The upload service is not reachable; retry with the same Idempotency-Key."
    try:
        resp = _post_retrying_once(res.http, url, headers, timeout)
    except requests.RequestException as exc:
        log.warning("upload instructions failed: %s", type(exc).__name__)
        raise Unavailable(detail) from exc
    with resp:
        if resp.status_code == 409:
            # The task no longer takes an upload (its window closed): nothing to hand out.
            return None
        if resp.status_code not in (200, 201):
            log.warning("upload instructions answered %s", resp.status_code)
            raise Unavailable(detail)
        try:
            body = resp.json()
        except ValueError as exc:
            raise Unavailable(detail) from exc
    if isinstance(body, dict) and isinstance(body.get("upload"), dict):
        body = body["upload"]
    if not isinstance(body, dict):
        raise Unavailable(detail)
    return body


def probe(url: str) -> None:
    """Readiness check: ``GET url`` answers 200 within the internal timeout."""
    res = resources()
    timeout = (res.settings.forward_connect_timeout_s, res.settings.internal_timeout_s)
    resp = res.http.get(url, timeout=timeout, allow_redirects=False)
    resp.close()
    if resp.status_code != 200:
        raise RuntimeError(f"health answered {resp.status_code}")
