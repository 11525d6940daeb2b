"""Scenario 4: the S3 server frozen for 10 s mid-run (SIGSTOP): every task finishes."""

from __future__ import annotations

import time

import pytest
from faultkit.load import scaled, submit_digests
from faultkit.scenario import assert_clean, conclude

PAUSE_S = 10.0


@pytest.mark.timeout(300)
def test_s3_paused_for_10_s(world, report) -> None:
    started = time.monotonic()
    batch = submit_digests(world.client, world.ledger, scaled(50), hold_s=0.2)
    world.s3.pause()
    try:
        time.sleep(PAUSE_S)
    finally:
        world.s3.resume()
    back = time.monotonic()
    result = conclude(
        world, report, "s3-pause-10s", batch,
        faults=1, fault_end=back, started=started, timeout=180,
    )  # fmt: skip
    assert_clean(result)
