"""The end-of-scenario check, from PostgreSQL, Redis and storage, and the summary line.

- PostgreSQL: every task is terminal (else ``stuck``) and in the state the scenario expects
  (else ``lost``); a succeeded task's result is the input's SHA-256.
- Storage: a succeeded ``fault-digest`` task has exactly one artifact object, holding that
  digest (no leftovers of killed attempts).
- The processors' ledger (a line per completed run): a task is ``duplicated`` when two runs
  completed within its committed attempt (from its ``started_at``), or one completed after
  the task had finished. A run that completed but whose worker was killed before the commit
  is not a duplicate (its attempt was never committed; the next attempt does the work); those
  are counted as ``reruns``.
- Redis: no job message is left pending in any consumer group.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from backdrop_common.redis_keys import JOB_GROUP, JOB_STREAM_PREFIX
from backdrop_contract.states import TERMINAL

from faultkit.load import Batch, rows


@dataclass
class Audit:
    """What the check found for one scenario."""

    tasks: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    pending: int = 0
    reruns: int = 0

    @property
    def clean(self) -> bool:
        """Nothing lost, duplicated, stuck, wrong or pending."""
        return not (self.lost or self.duplicated or self.stuck or self.wrong or self.pending)

    def line(self, name: str, faults: int, recover_s: float | None, wall_s: float) -> str:
        """The summary line of the scenario."""
        recover = "never" if recover_s is None else f"{recover_s:.1f}"
        return (
            f"{name}: tasks={self.tasks} faults={faults} lost={len(self.lost)}"
            f" duplicated={len(self.duplicated)} stuck={len(self.stuck)}"
            f" wrong={len(self.wrong)} pending={self.pending} reruns={self.reruns}"
            f" recover_s={recover}"
            f" wall_s={wall_s:.0f}"
        )


def pending_messages(client: redis.Redis) -> int:
    """Messages delivered to a consumer and not acknowledged, over every job stream."""
    total = 0
    for stream in client.scan_iter(match=f"{JOB_STREAM_PREFIX}*", _type="stream"):
        for group in client.xinfo_groups(stream):
            if group["name"] == JOB_GROUP:
                total += int(group["pending"])
    return total


def audit(
    db_url: str,
    client: redis.Redis,
    storage: Any,
    batch: Batch,
    *,
    ledger: Path | None = None,
    expect: str = "succeeded",
    pending_wait_s: float = 15.0,
) -> Audit:
    """Check ``batch`` against every store (see the module docstring)."""
    found = {str(r["id"]): r for r in rows(db_url, batch.ids)}
    result = Audit(tasks=len(batch.tasks))
    runs = _completions(ledger)
    for sent in batch.tasks:
        row = found.get(sent.task_id)
        if row is None or row["status"] not in TERMINAL:
            result.stuck.append(sent.task_id)
            continue
        if row["status"] != expect:
            result.lost.append(sent.task_id)
            continue
        done = runs.get(sent.tag, [])
        result.reruns += max(0, len(done) - 1)
        in_attempt = [t for t in done if t >= row["started_at"].timestamp()]
        if len(in_attempt) > 1 or any(t > row["finished_at"].timestamp() + 0.5 for t in done):
            result.duplicated.append(sent.task_id)
        if expect == "succeeded" and ledger is not None and not _digest_ok(storage, row, sent):
            result.wrong.append(sent.task_id)
    # The last ACKs follow the last commits by a moment: wait a little for them.
    deadline = time.monotonic() + pending_wait_s
    while (result_pending := pending_messages(client)) and time.monotonic() < deadline:
        time.sleep(0.2)
    result.pending = result_pending
    return result


def _completions(ledger: Path | None) -> dict[str, list[float]]:
    """Completion times per tag, from the processors' ledger."""
    found: dict[str, list[float]] = {}
    if ledger is None or not ledger.exists():
        return found
    for line in ledger.read_text().splitlines():
        tag, _, when = line.partition(" ")
        found.setdefault(tag, []).append(float(when))
    return found


def _digest_ok(storage: Any, row: dict[str, Any], sent: Any) -> bool:
    if (row.get("result") or {}).get("sha256") != sent.sha256:
        return False
    artifacts = row.get("artifacts") or []
    if [a["name"] for a in artifacts] != ["digest.txt"]:
        return False
    prefix = artifacts[0]["key"].rsplit("/", 1)[0] + "/"
    listed = storage.s3.list_objects_v2(Bucket=storage.bucket, Prefix=prefix)
    keys = [o["Key"] for o in listed.get("Contents", [])]
    if keys != [artifacts[0]["key"]]:
        return False
    body = storage.s3.get_object(Bucket=storage.bucket, Key=keys[0])["Body"].read()
    return bool(body.decode() == sent.sha256)
