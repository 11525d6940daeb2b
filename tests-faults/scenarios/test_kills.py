"""Scenario 1: SIGKILL at random while 500 tasks run: of whole workers (supervisord starts
them again), and of job children (the processes running one job each)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
from faultkit.load import scaled, submit_digests, wait_terminal
from faultkit.scenario import assert_clean, conclude

KILL_EVERY_S = 3.0


def _run(world, report, name: str, tasks: int, kill: Callable[[random.Random], int | None]):
    rng = random.Random(20261129)
    started = time.monotonic()
    stop = threading.Event()
    kills = [0]
    last_kill = [started]

    def killer() -> None:
        while not stop.wait(KILL_EVERY_S):
            if kill(rng) is not None:
                kills[0] += 1
                last_kill[0] = time.monotonic()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        batch = submit_digests(world.client, world.ledger, tasks, hold_s=0.2)
        # Keep killing while most of the work runs, then let the fleet finish.
        wait_terminal(world.db_url, batch.ids[: tasks * 3 // 4], 300)
    finally:
        stop.set()
        thread.join(10)
    result = conclude(
        world, report, name, batch,
        faults=kills[0], fault_end=last_kill[0], started=started, timeout=240,
    )  # fmt: skip
    assert kills[0], "nothing was killed"
    assert_clean(result)


@pytest.mark.timeout(600)
def test_worker_kills_lose_and_duplicate_nothing(world, report) -> None:
    def kill_worker(rng: random.Random) -> int | None:
        # Only with the whole fleet up: a restarting worker takes a while on a busy machine.
        workers = world.stack.pids("worker")
        return world.stack.kill_random_worker(rng) if len(workers) == 3 else None

    _run(world, report, "kill-workers", scaled(500), kill_worker)


@pytest.mark.timeout(600)
def test_child_kills_are_retried(world, report) -> None:
    _run(world, report, "kill-children", scaled(200), world.stack.kill_random_horse)
