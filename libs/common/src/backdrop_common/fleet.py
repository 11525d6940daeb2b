"""What Redis knows about the fleet: job streams per processor and the workers' presence.

Read-only views for operators (the admin API, the dashboard and the queue gauges). The task
table stays the truth about tasks; this is the delivery side: how long each stream is, how
much of it the consumer group has not read (lag) or not acknowledged (pending), which
consumers the group has, and which workers announce themselves.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from backdrop_common.redis_keys import (
    JOB_GROUP,
    JOB_STREAM_PREFIX,
    PROCESSORS_KEY,
    WORKER_PREFIX,
    job_stream,
)


def processors(client: redis.Redis) -> list[str]:
    """Processor names known from the catalogue or from an existing job stream, sorted."""
    # The clients are made with decode_responses=True: keys arrive as str.
    names = {str(name) for name in client.hkeys(PROCESSORS_KEY)}
    for key in client.scan_iter(match=f"{JOB_STREAM_PREFIX}*", count=500, _type="stream"):
        names.add(str(key).removeprefix(JOB_STREAM_PREFIX))
    return sorted(names)


def _entry_age_s(entry_id: str, now_ms: int) -> float:
    """Seconds since a stream entry id's millisecond timestamp."""
    return max(0.0, (now_ms - int(entry_id.split("-")[0])) / 1000)


def queue_stats(client: redis.Redis, processor: str) -> dict[str, Any]:
    """The stream of ``processor``: length, and for group ``workers`` its lag (entries never
    delivered), pending (delivered, not acknowledged), consumers and the age of the oldest
    undelivered entry."""
    stream = job_stream(processor)
    stats: dict[str, Any] = {
        "processor": processor,
        "stream": stream,
        "length": 0,
        "lag": None,
        "pending": 0,
        "consumers": [],
        "oldest_undelivered_age_s": None,
    }
    try:
        stats["length"] = int(client.xlen(stream))
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream (yet): nothing queued
        return stats
    group = next((g for g in groups if g["name"] == JOB_GROUP), None)
    if group is None:
        stats["lag"] = stats["length"]
        return stats
    stats["pending"] = int(group["pending"])
    stats["lag"] = None if group.get("lag") is None else int(group["lag"])
    now_ms = int(time.time() * 1000)
    if stats["lag"]:
        # The first entry after the group's last delivered id is the oldest one waiting.
        nxt = client.xrange(stream, min=f"({group['last-delivered-id']}", count=1)
        if nxt:
            stats["oldest_undelivered_age_s"] = round(_entry_age_s(str(nxt[0][0]), now_ms), 3)
    stats["consumers"] = [
        {"name": c["name"], "pending": int(c["pending"]), "idle_s": int(c["idle"]) / 1000}
        for c in client.xinfo_consumers(stream, JOB_GROUP)
    ]
    return stats


def _worker_doc(raw: dict[str, str]) -> dict[str, Any]:
    host, port = raw.get("host", ""), raw.get("health_port", "")
    last_seen = raw.get("last_seen")
    age = None
    if last_seen:
        seen = datetime.fromisoformat(last_seen.replace("Z", "+00:00"))
        age = round((datetime.now(UTC) - seen).total_seconds(), 3)
    return {
        "worker_id": raw.get("worker_id", ""),
        "host": host,
        "pid": int(raw["pid"]) if raw.get("pid", "").isdigit() else None,
        "processors": json.loads(raw.get("processors") or "[]"),
        "concurrency": int(raw.get("concurrency") or 0),
        "jobs": json.loads(raw.get("jobs") or "[]"),
        "started_at": raw.get("started_at"),
        "last_seen": last_seen,
        "last_seen_age_s": age,
        "health_url": f"http://{host}:{port}/healthz" if host and port else None,
    }


def live_workers(client: redis.Redis) -> list[dict[str, Any]]:
    """Every worker whose presence hash has not expired, by id."""
    keys = sorted(client.scan_iter(match=f"{WORKER_PREFIX}*", count=500))
    if not keys:
        return []
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        found = pipe.execute()
    return [_worker_doc(raw) for raw in found if raw]


def silent_workers(
    queues: list[dict[str, Any]], live: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Consumers of the job groups with no live presence: workers that went quiet (died,
    hung, or left without removing their consumer), with what they still hold."""
    alive = {w["worker_id"] for w in live}
    silent: dict[str, dict[str, Any]] = {}
    for queue in queues:
        for consumer in queue["consumers"]:
            if consumer["name"] in alive:
                continue
            doc = silent.setdefault(
                consumer["name"],
                {"worker_id": consumer["name"], "pending": 0, "idle_s": consumer["idle_s"]},
            )
            doc["pending"] += consumer["pending"]
            doc["idle_s"] = min(doc["idle_s"], consumer["idle_s"])
    return sorted(silent.values(), key=lambda w: w["idle_s"])
