"""Job streams (``backdrop:jobs:<processor>``): the delivery side of the task outbox.

PostgreSQL is the source of truth; an entry here only says "look at this task". Entries
may be duplicated (relay after a crash), which is harmless because ``taskstore.claim``
is guarded.
"""

from __future__ import annotations

import redis

from backdrop_common.redis_keys import JOB_GROUP, job_stream


def enqueue_job(client: redis.Redis, processor: str, task_id: object) -> str:
    """XADD ``{task_id}`` to the processor's stream; returns the entry id.

    Not trimmed: a trimmed entry could be one a consumer has not acknowledged yet.
    """
    entry_id = client.xadd(job_stream(processor), {"task_id": str(task_id)})
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def ensure_group(client: redis.Redis, processor: str) -> None:
    """Create the ``workers`` group (and the stream) if missing.

    The group starts at ``0``, not ``$``: jobs added before the first worker started
    (or before Redis lost and regained the group) must still be delivered.
    """
    try:
        client.xgroup_create(job_stream(processor), JOB_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
