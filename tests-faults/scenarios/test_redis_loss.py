"""Scenario 2: Redis loses its data mid-run (FLUSHALL; a restart of a Redis that keeps
nothing). Every task finishes with no manual step, within 30 s of Redis being back."""

from __future__ import annotations

import time

import pytest
from backdrop_common import jobs
from faultkit.load import scaled, submit_digests
from faultkit.scenario import assert_clean, conclude
from faultkit.servers import wait_until

RECOVERY_LIMIT_S = 30.0


def _wipe(world, how: str) -> None:
    if how == "flushall":
        world.redis.client().flushall()
    else:
        world.redis.kill()
        time.sleep(2)  # the services see connection errors for a while
        world.redis.start()


@pytest.fixture
def heal_groups(world):
    """After the scenario, make sure every job stream has its group again, so the scenarios
    that follow run on a working fleet whatever this one proved."""
    served = [p["name"] for p in world.client.processors()]
    yield
    client = world.redis.client()
    for name in served:
        jobs.ensure_group(client, name)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["flushall", "restart-empty"])
def test_redis_data_loss(world, report, heal_groups, how: str) -> None:
    started = time.monotonic()
    # Half the tasks go in before the loss (queued, running, some done), half after it.
    batch = submit_digests(world.client, world.ledger, scaled(25), hold_s=0.5)
    _wipe(world, how)
    back = time.monotonic()
    # Workers publish the processor catalogue again within seconds; till then the gateway
    # does not know the plugin processor (third-party names are validated from it).
    wait_until(lambda: "fault-digest" in {p["name"] for p in world.client.processors()}, 30,
               "the processor catalogue")  # fmt: skip
    batch.tasks += submit_digests(world.client, world.ledger, scaled(25), hold_s=0.2).tasks
    result = conclude(
        world, report, f"redis-{how}", batch,
        faults=1, fault_end=back, started=started, timeout=RECOVERY_LIMIT_S + 30,
    )  # fmt: skip
    assert_clean(result)
    recovered = report[-1].split("recover_s=")[1].split()[0]
    assert float(recovered) <= RECOVERY_LIMIT_S, report[-1]
