"""Every Redis key, stream and channel name Backdrop uses, and nothing else.

One module, so a reader sees the whole key space at once and no service spells a key by
hand. The table in ``docs/ARCHITECTURE.md`` ("Redis keys and streams") says who writes and
who reads each one.
"""

from __future__ import annotations

# Job delivery: one stream per processor, read by the consumer group ``workers``.
JOB_STREAM_PREFIX = "backdrop:jobs:"
JOB_GROUP = "workers"

# Per task: the replayable event log (stream) and the latest-progress cache (hash).
EVENTS_PREFIX = "backdrop:events:"
# Per user: the same events for all of a user's tasks (``GET /v1/events``, ``/v1/ws``).
USER_EVENTS_PREFIX = "backdrop:user-events:"
PROGRESS_PREFIX = "backdrop:progress:"

# Cancellation: a pub/sub channel (message = task id) and a per-task fallback flag.
CANCEL_CHANNEL = "backdrop:cancel"
CANCEL_PREFIX = "backdrop:cancel:"

# Fleet: each worker's presence hash, and the catalogue of processors the workers serve
# (hash: name -> JSON {name, description, params_schema}).
WORKER_PREFIX = "backdrop:workers:"
PROCESSORS_KEY = "backdrop:processors"

# Gateway: one task creation at a time per user (a lock, so the active-task cap cannot be
# raced), and the live-stream leases (sorted sets per user and per client address).
CREATE_LOCK_PREFIX = "backdrop:create-lock:"
LIVE_PREFIX = "backdrop:live:"

# A random value the sweeper writes once (SET NX, no TTL): its absence means Redis lost its
# data (FLUSHALL, a restart without persistence) and every job stream with it.
EPOCH_KEY = "backdrop:epoch"

# Auth: revoked access tokens (by jti) and sessions (by sid); abuse counters under one
# prefix: failed logins (auth's own keys below) and registration windows (the ``limits``
# library adds its own suffixes after the prefix).
REVOKED_JTI_PREFIX = "auth:revoked:jti:"
REVOKED_SID_PREFIX = "auth:revoked:sid:"
# Unix seconds from which the revocation marks above are complete (no TTL): gone with them
# when Redis loses its data, and then tokens issued earlier are refused.
REVOCATIONS_SINCE = "auth:revocations-since"
RATELIMIT_PREFIX = "auth:ratelimit"
LOGIN_FAILURES_PREFIX = f"{RATELIMIT_PREFIX}:login:"


def job_stream(processor: str) -> str:
    """The stream of ``processor``'s jobs (``backdrop:jobs:<processor>``)."""
    return f"{JOB_STREAM_PREFIX}{processor}"


def events_key(task_id: object) -> str:
    """The event stream of a task (``backdrop:events:<task_id>``)."""
    return f"{EVENTS_PREFIX}{task_id}"


def user_events_key(user_id: object) -> str:
    """The event stream of all of a user's tasks (``backdrop:user-events:<user_id>``)."""
    return f"{USER_EVENTS_PREFIX}{user_id}"


def progress_key(task_id: object) -> str:
    """The progress cache hash of a task (``backdrop:progress:<task_id>``)."""
    return f"{PROGRESS_PREFIX}{task_id}"


def cancel_key(task_id: object) -> str:
    """The flag saying a running task was cancelled (``backdrop:cancel:<task_id>``)."""
    return f"{CANCEL_PREFIX}{task_id}"


def worker_key(worker_id: str) -> str:
    """A worker's presence hash (``backdrop:workers:<worker_id>``)."""
    return f"{WORKER_PREFIX}{worker_id}"


def revoked_jti_key(jti: str) -> str:
    """The key whose existence revokes one access token."""
    return f"{REVOKED_JTI_PREFIX}{jti}"


def revoked_sid_key(sid: str) -> str:
    """The key whose existence revokes every access token of a session."""
    return f"{REVOKED_SID_PREFIX}{sid}"


def login_failure_keys(account: str, ip: str) -> tuple[str, str, str]:
    """The failed-login counters of one attempt: per (account, address), account, address.

    ``account`` and ``ip`` are digests, so no login name or address is readable in Redis.
    """
    return (
        f"{LOGIN_FAILURES_PREFIX}pair:{account}:{ip}",
        f"{LOGIN_FAILURES_PREFIX}account:{account}",
        f"{LOGIN_FAILURES_PREFIX}ip:{ip}",
    )
