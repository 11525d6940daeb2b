"""Fair share between users: one user's backlog of slow jobs leaves the fleet's other slots
to everyone else, and the worker sends the owner's next held job as each one ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

SHARE = 2  # of the worker's 3 slots
SLOW_S = 1.5


def _most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    """The largest number of the intervals that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_one_users_backlog_leaves_slots_for_another(start_worker: Any, owner_tasks: Any) -> None:
    start_worker(
        "--processors",
        "sleepy,checksum",
        "--concurrency",
        "3",
        extra_env={"BACKDROP_MAX_DISPATCHED_PER_USER": str(SHARE)},
    )
    heavy, light = owner_tasks(share=SHARE), owner_tasks(share=SHARE)
    backlog = [heavy("sleepy", params={"seconds": SLOW_S}) for _ in range(6)]
    heavy.wait_status(backlog[0]["id"], "running", timeout=10)

    tiny = light("checksum", b"tiny")
    done = light.wait_status(tiny["id"], "succeeded", timeout=30)
    # Without the share, the backlog's six jobs fill all three slots and the tiny job waits
    # behind them for two rounds (2 x SLOW_S).
    waited = (done["started_at"] - done["queued_at"]).total_seconds()
    assert waited < SLOW_S / 2, f"the other user's job waited {waited:.2f} s"

    # No sweeper runs here: each held job was sent by the worker as one of the owner's ended.
    rows = [heavy.wait_status(row["id"], "succeeded", "failed", timeout=30) for row in backlog]
    assert [(row["status"], row["attempts"]) for row in rows] == [("succeeded", 1)] * 6
    assert _most_at_once([(row["started_at"], row["finished_at"]) for row in rows]) <= SHARE
