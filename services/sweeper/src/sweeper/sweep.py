"""One sweep: the timers of the task lifecycle, one short sweep at a time.

Each sweep expires uploads past their window (removing partial objects and open multipart
uploads); deletes what presigned forms wrote to the input keys of tasks that had moved on
(cancelled, expired, or already verified) once those forms have expired; and relays queued
tasks whose job never reached the stream (a crash between the commit and the XADD), whose
retry time has come, or whose delivery looks lost. Several sweepers may run: a
transaction-level advisory lock lets one sweep at a time.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

import redis
from backdrop_common import events, streams, taskstore
from backdrop_common.db import Database
from backdrop_common.storage import Storage, input_key
from prometheus_client import Counter

log = logging.getLogger(__name__)
LOCK_KEY = zlib.crc32(b"backdrop-sweeper")
EXPIRED = Counter("backdrop_sweeper_expired_total", "Uploads expired by the sweeper")
RELAYED = Counter("backdrop_sweeper_relayed_total", "Jobs (re)sent to their stream")
SWEPT = Counter("backdrop_sweeper_inputs_swept_total", "Input keys swept after their window")


@dataclass
class SweepReport:
    """What one sweep did."""

    expired: int = 0
    swept: int = 0  # input keys cleaned after their upload window
    relayed: int = 0
    skipped: bool = False  # another sweeper held the lock


def _expire(db: Database, client: redis.Redis, storage: Storage, limit: int) -> int:
    rows = taskstore.expire_uploads(db, limit=limit)
    for row in rows:
        try:
            storage.discard_upload(row["object_key"], row.get("multipart_upload_id"))
        except Exception:  # swept again once its URLs have lapsed; lifecycle rule behind that
            log.warning("could not clean up the upload of task %s", row["id"], exc_info=True)
        events.publish_status(client, row)
    EXPIRED.inc(len(rows))
    return len(rows)


def _sweep_inputs(db: Database, storage: Storage, grace_s: float, limit: int) -> int:
    """Delete what arrived at input keys after their task moved on, once no URL can add more."""
    rows = taskstore.inputs_to_sweep(db, grace_s=grace_s, limit=limit)
    for row in rows:
        key = input_key(row["owner_id"], row["id"], row["filename"])
        try:
            storage.discard_upload(key, row.get("multipart_upload_id"))
        except Exception:
            log.warning("could not sweep the input of task %s", row["id"], exc_info=True)
            continue
        taskstore.mark_input_swept(db, row["id"])
    SWEPT.inc(len(rows))
    return len(rows)


def _relay(
    db: Database, client: redis.Redis, older_than_s: float, stale_after_s: float | None, limit: int
) -> int:
    rows = taskstore.due_for_enqueue(
        db, older_than_s=older_than_s, stale_after_s=stale_after_s, limit=limit
    )
    relayed = 0
    for row in rows:
        try:
            streams.enqueue_job(client, row["processor"], row["id"])
        except redis.RedisError:
            log.warning("Redis is unavailable; relay postponed to the next sweep")
            break
        taskstore.mark_enqueued(db, row["id"])
        relayed += 1
    RELAYED.inc(relayed)
    return relayed


def sweep_once(
    db: Database,
    client: redis.Redis,
    storage: Storage,
    *,
    relay_after_s: float,
    stale_after_s: float | None = None,
    input_grace_s: float = 60.0,
    limit: int = 500,
) -> SweepReport:
    """One sweep: expire overdue uploads, sweep inputs whose URLs have lapsed, then relay
    due jobs. Skipped if another sweeper runs."""
    with db.connection() as conn, conn.cursor() as cur:
        # Held by this open transaction until the pool rolls it back on return.
        cur.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", (LOCK_KEY,))
        row = cur.fetchone()
        if not row or not row[0]:
            return SweepReport(skipped=True)
        report = SweepReport()
        report.expired = _expire(db, client, storage, limit)
        report.swept = _sweep_inputs(db, storage, input_grace_s, limit)
        report.relayed = _relay(db, client, relay_after_s, stale_after_s, limit)
    if report.expired or report.swept or report.relayed:
        log.info(
            "sweep: %d expired, %d inputs swept, %d relayed",
            report.expired, report.swept, report.relayed,
        )  # fmt: skip
    return report
