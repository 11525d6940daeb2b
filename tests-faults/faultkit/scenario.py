"""What every scenario ends with: wait, audit every store, print the line, assert."""

from __future__ import annotations

import time
from typing import Any

from faultkit.audit import Audit, audit
from faultkit.load import Batch, wait_terminal


def conclude(
    world: Any,
    report: list[str],
    name: str,
    batch: Batch,
    *,
    faults: int,
    fault_end: float,
    started: float,
    timeout: float,
    expect: str = "succeeded",
    ledger: bool = True,
) -> Audit:
    """Wait up to ``timeout`` for every task to finish, audit, report; returns the audit.

    Seconds to recover: from the end of the last fault until the last task finished.
    """
    done = wait_terminal(world.db_url, batch.ids, timeout)
    result = audit(
        world.db_url,
        world.redis.client(),
        world.storage,
        batch,
        ledger=world.ledger if ledger else None,
        expect=expect,
    )
    recover = None if done is None else max(0.0, done - fault_end)
    report.append(result.line(name, faults, recover, time.monotonic() - started))
    return result


def assert_clean(result: Audit) -> None:
    """Fail with the ids of whatever went wrong."""
    assert result.clean, (
        f"lost={result.lost[:5]} duplicated={result.duplicated[:5]} stuck={result.stuck[:5]}"
        f" wrong={result.wrong[:5]} pending={result.pending}"
    )
