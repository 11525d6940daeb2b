"""One sweep: the timers of the task lifecycle, one short sweep at a time.

Each sweep expires uploads past their window (removing partial objects and open multipart
uploads); deletes what presigned forms wrote to the input keys of tasks that had moved on
(cancelled, expired, or already verified) once those forms have expired; relays jobs that
were admitted but never reached their stream (a crash between the commit and the XADD);
re-sends jobs Redis lost (``sweeper.recovery``); and sends waiting jobs (held over their
owner's fair share, retries whose time came, jobs whose first send was lost) as far as
their owners' shares allow. Several sweepers may run: a transaction-level advisory lock
lets one sweep at a time.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

import redis
from backdrop_common import events, jobs, taskstore
from backdrop_common.db import Database
from backdrop_common.storage import Storage, input_key
from prometheus_client import Counter

from sweeper import recovery

log = logging.getLogger(__name__)
LOCK_KEY = zlib.crc32(b"backdrop-sweeper")
EXPIRED = Counter("backdrop_sweeper_expired_total", "Uploads expired by the sweeper")
RELAYED = Counter("backdrop_sweeper_relayed_total", "Admitted jobs (re)sent to their stream")
RELEASED = Counter(
    "backdrop_sweeper_released_total", "Waiting jobs sent within their owner's fair share"
)
SWEPT = Counter("backdrop_sweeper_inputs_swept_total", "Input keys swept after their window")


@dataclass
class SweepReport:
    """What one sweep did."""

    expired: int = 0
    swept: int = 0  # input keys cleaned after their upload window
    relayed: int = 0
    released: int = 0  # waiting jobs sent as their owners' fair shares allowed
    resent: int = 0  # jobs whose stream entry Redis had lost
    redis_lost_data: bool = False
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


def _relay(db: Database, client: redis.Redis, older_than_s: float, cap: int, limit: int) -> int:
    rows = taskstore.due_for_enqueue(db, older_than_s=older_than_s, limit=limit)
    for row in rows:
        jobs.send_job(db, client, row, max_dispatched=cap)
    RELAYED.inc(len(rows))
    return len(rows)


def _release(db: Database, client: redis.Redis, cap: int, limit: int) -> int:
    """Send what each owner's fair share allows: held jobs whose release was lost (a worker
    died before it), retries whose time came, jobs whose first send never happened."""
    sent = 0
    for owner in taskstore.owners_waiting(db, limit=limit):
        sent += len(jobs.dispatch_waiting(db, client, owner, max_dispatched=cap))
    RELEASED.inc(sent)
    return sent


def sweep_once(
    db: Database,
    client: redis.Redis,
    storage: Storage,
    *,
    relay_after_s: float,
    max_dispatched: int,
    stale_after_s: float | None = None,
    input_grace_s: float = 60.0,
    limit: int = 500,
) -> SweepReport:
    """One sweep: expire overdue uploads, sweep inputs whose URLs have lapsed, relay jobs
    admitted but not sent, send waiting jobs within each owner's ``max_dispatched``, re-send
    lost ones.

    Jobs sent at least ``stale_after_s`` ago are checked against their stream (None: only
    when Redis lost its data, then every one is). Skipped while another sweeper runs.
    """
    with db.connection() as conn, conn.cursor() as cur:
        # Held by this open transaction until the pool rolls it back on return.
        cur.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", (LOCK_KEY,))
        row = cur.fetchone()
        if not row or not row[0]:
            return SweepReport(skipped=True)
        report = SweepReport()
        report.expired = _expire(db, client, storage, limit)
        report.swept = _sweep_inputs(db, storage, input_grace_s, limit)
        try:
            report.redis_lost_data = recovery.redis_lost_data(client)
            report.relayed = _relay(db, client, relay_after_s, max_dispatched, limit)
            check_after = 0.0 if report.redis_lost_data else stale_after_s
            if check_after is not None:
                report.resent = recovery.resend_lost(
                    db, client, older_than_s=check_after, max_dispatched=max_dispatched,
                    limit=limit,
                )  # fmt: skip
            report.released = _release(db, client, max_dispatched, limit)
        except redis.RedisError as exc:
            log.warning("Redis is unavailable (%s); relay postponed", type(exc).__name__)
    if report.expired or report.swept or report.relayed or report.resent or report.released:
        log.info(
            "sweep: %d expired, %d inputs swept, %d relayed, %d re-sent, %d released",
            report.expired, report.swept, report.relayed, report.resent, report.released,
        )  # fmt: skip
    return report
