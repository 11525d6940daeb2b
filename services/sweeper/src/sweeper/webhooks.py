"""The webhook dispatcher: a thread of the sweeper process that sends due deliveries.

Deliveries are rows queued by a trigger on every terminal status (``006_webhooks.sql``), so
nothing here blocks a worker and a restart loses nothing: a claimed row is held by pushing
its ``next_attempt_at`` out, and if this process dies mid-send it is simply due again. Each
attempt POSTs the Task JSON signed per Standard Webhooks (``webhook-id`` = the delivery id,
the same on every retry; ``webhook-timestamp``; ``webhook-signature`` ``v1,<base64 HMAC>``),
refuses non-public targets again (DNS may have changed) and connects to an address it just
checked, never to what a second look-up would say (DNS rebinding: a name that answers with a
public address for the check and a private one for the connection); follows no redirect,
waits at most ``webhook_timeout_s`` to connect (all addresses together) and as long for each
read of the answer, and keeps the first 1 KiB of it. Failures back off
exponentially (``webhook_backoff_s`` doubled, at most ``webhook_backoff_max_s``) until the
delivery is ``webhook_retry_for_s`` old.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import urllib3
from backdrop_common import taskstore
from backdrop_common.db import Database
from backdrop_common.webhooks import IPAddress, UnsafeTarget, check_target
from standardwebhooks.webhooks import Webhook

from sweeper.settings import SweeperSettings

log = logging.getLogger(__name__)
RESPONSE_KEPT = 1024
_BATCH = 32


def dispatch_forever(settings: SweeperSettings, db: Database, stop: threading.Event) -> None:
    """Send due deliveries until ``stop``; a failing database is logged and retried."""
    # urllib3 rather than requests: requests reads a redirect's whole body (to reuse the
    # connection) even when told not to follow it, and the answer must stay small.
    http = urllib3.PoolManager(num_pools=64, maxsize=2)
    with ThreadPoolExecutor(settings.webhook_concurrency, "webhook") as pool:
        while not stop.is_set():
            try:
                sent = dispatch_once(settings, db, http, pool)
            except Exception:
                log.exception("webhook dispatch failed")
                sent = 0
            if not sent:
                stop.wait(settings.webhook_interval_s)


def dispatch_once(
    settings: SweeperSettings, db: Database, http: urllib3.PoolManager, pool: ThreadPoolExecutor
) -> int:
    """Claim the due deliveries, send them concurrently, record each attempt; how many."""
    hold = settings.webhook_timeout_s * 2 + 30
    due = taskstore.fetch_all(
        db,
        """WITH due AS (
               SELECT id FROM tasks.webhook_deliveries
                WHERE state = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED),
           held AS (
               UPDATE tasks.webhook_deliveries d
                  SET next_attempt_at = now() + make_interval(secs => %(hold)s)
                 FROM due WHERE d.id = due.id RETURNING d.*)
           SELECT held.*, COALESCE(e.secret, c.secret) AS secret
             FROM held
             LEFT JOIN tasks.webhook_endpoints e ON e.id = held.endpoint_id
             LEFT JOIN tasks.task_callbacks c
                    ON held.endpoint_id IS NULL AND c.task_id = held.task_id""",
        {"batch": _BATCH, "hold": hold},
    )
    list(pool.map(lambda d: _attempt(settings, db, http, d), due))
    return len(due)


def _attempt(
    settings: SweeperSettings, db: Database, http: urllib3.PoolManager, delivery: dict[str, Any]
) -> None:
    """Send one delivery and record the attempt; a failure is logged, not raised, so that it
    cannot stop the other deliveries of the batch (this one is due again after its hold)."""
    try:
        payload = delivery["payload"] or _payload(db, delivery)
        started = time.monotonic()
        code, error, excerpt = _send(settings, http, delivery, payload)
        _record(settings, db, delivery, payload, code, error, excerpt, started)
    except Exception:
        log.exception("webhook delivery %s: the attempt could not be made", delivery["id"])


def _payload(db: Database, delivery: dict[str, Any]) -> dict[str, Any]:
    """The Task JSON, read when the delivery is first attempted (kept for the retries)."""
    row = taskstore.get_task(db, delivery["task_id"])
    return taskstore.task_json(row) if row else {"id": str(delivery["task_id"])}


def _send(
    settings: SweeperSettings,
    http: urllib3.PoolManager,
    delivery: dict[str, Any],
    payload: dict[str, Any],
) -> tuple[int | None, str | None, str | None]:
    """One POST: ``(status code, error, the answer's first KiB)``."""
    url = delivery["url"]
    try:
        addresses = check_target(url, settings.webhook_allow_networks)
    except UnsafeTarget as exc:
        return None, f"refused: {exc}", None
    body = json.dumps(payload, separators=(",", ":"))
    msg_id = f"msg_{delivery['id'].hex}"
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Backdrop-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(delivery["secret"]).sign(msg_id, now, body),
    }
    try:
        resp = _post_pinned(
            http, url, addresses, body.encode(), headers, settings.webhook_timeout_s
        )
    except Exception as exc:  # whatever a receiver's URL or answer does: a failed attempt
        return None, type(exc).__name__, None
    try:
        kept = resp.read(RESPONSE_KEPT, decode_content=True) or b""
    except urllib3.exceptions.HTTPError:
        kept = b""
    finally:
        if resp.length_remaining == 0:
            resp.release_conn()  # the whole answer was read: the connection can serve again
        else:
            resp.close()  # bytes may be left unread: reused, it would answer the next POST
    return resp.status, None, kept.decode("utf-8", "replace")


def _post_pinned(
    http: urllib3.PoolManager,
    url: str,
    addresses: Sequence[IPAddress],
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
) -> urllib3.BaseHTTPResponse:
    """POST ``body`` to ``url`` at one of the checked ``addresses`` (the next one when an
    address does not accept the connection, as a resolver-driven connect would): the request
    names the URL's host in ``Host`` and, over TLS, in SNI and the certificate check.

    The addresses share one ``timeout`` for connecting: each gets an equal part of what is
    left, the last all of it, so one that refuses at once leaves its part to the others, and
    however many drop the connection attempt, connecting takes at most ``timeout`` (within
    the hold that keeps another sweeper from sending the same delivery).
    """
    # urllib3's parse gives the host as sent on the wire: an internationalised name in its
    # IDNA form (xn--...), which is also what a certificate names.
    parts = urllib3.util.parse_url(url)
    host = str(parts.host)  # an IPv6 literal keeps its brackets, as in Host
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    tls = {"server_hostname": host.strip("[]"), "assert_hostname": host.strip("[]")}
    target = parts.request_uri
    host_header = host if parts.port is None else f"{host}:{parts.port}"

    def post(address: IPAddress, connect: float) -> urllib3.BaseHTTPResponse:
        pool = http.connection_from_host(str(address), port, parts.scheme, tls if https else None)
        return pool.urlopen(
            "POST",
            target,
            body=body,
            headers={**headers, "Host": host_header},
            timeout=urllib3.Timeout(connect=connect, read=timeout),
            redirect=False,
            retries=False,
            preload_content=False,
        )

    candidates = list(dict.fromkeys(addresses))
    deadline = time.monotonic() + timeout
    for index, address in enumerate(candidates[:-1]):
        share = max(deadline - time.monotonic(), 0.01) / (len(candidates) - index)
        try:
            return post(address, share)
        except urllib3.exceptions.ConnectTimeoutError:  # also a refused connection
            log.info("webhook target %s did not accept a connection; trying the next", address)
    return post(candidates[-1], max(deadline - time.monotonic(), 0.1))


def _record(
    settings: SweeperSettings,
    db: Database,
    delivery: dict[str, Any],
    payload: dict[str, Any],
    code: int | None,
    error: str | None,
    excerpt: str | None,
    started: float,
) -> None:
    ok = code is not None and 200 <= code < 300
    if error is None and not ok:
        error = f"HTTP {code}"
    attempts = delivery["attempts"] + 1
    backoff = min(settings.webhook_backoff_s * 2 ** (attempts - 1), settings.webhook_backoff_max_s)
    with db.cursor() as cur:
        cur.execute(
            """INSERT INTO tasks.webhook_attempts
                   (delivery_id, status_code, error, duration_ms, response)
               VALUES (%(id)s, %(code)s, %(error)s, %(ms)s, %(excerpt)s)""",
            {
                "id": delivery["id"],
                "code": code,
                "error": error if not ok else None,
                "ms": int((time.monotonic() - started) * 1000),
                "excerpt": excerpt,
            },
        )
        cur.execute(
            """UPDATE tasks.webhook_deliveries SET
                   attempts = %(attempts)s,
                   payload = COALESCE(payload, %(payload)s::jsonb),
                   state = CASE WHEN %(ok)s THEN 'delivered'
                                WHEN created_at < now() - make_interval(secs => %(retry_for)s)
                                THEN 'failed' ELSE 'pending' END,
                   finished_at = CASE WHEN %(ok)s OR created_at < now()
                                 - make_interval(secs => %(retry_for)s) THEN now() END,
                   next_attempt_at = now() + make_interval(secs => %(backoff)s)
               WHERE id = %(id)s""",
            {
                "id": delivery["id"],
                "attempts": attempts,
                "payload": json.dumps(payload),
                "ok": ok,
                "retry_for": settings.webhook_retry_for_s,
                "backoff": backoff,
            },
        )
    if not ok:
        log.info(
            "webhook %s to %s failed (attempt %d): %s",
            delivery["id"],
            delivery["url"],
            attempts,
            error,
        )
