"""Fault points: places where the fault suite may kill the process to prove recovery.

A point does nothing unless the process runs with ``BACKDROP_ENV=test`` and names it in
``BACKDROP_FAULT_POINTS`` (comma-separated); then reaching it kills the process at once
with SIGKILL, exactly like a crash at that line (no clean-up, no ``finally``).
"""

from __future__ import annotations

import os
import signal

QUEUED_BEFORE_XADD = "queued-before-xadd"
"""After a task's ``queued`` commit, before its job's XADD (upload service)."""


def fault_point(name: str) -> None:
    """Die here if the fault suite enabled ``name`` (test environments only)."""
    if os.environ.get("BACKDROP_ENV") != "test":
        return
    enabled = os.environ.get("BACKDROP_FAULT_POINTS", "")
    if name in (point.strip() for point in enabled.split(",")):
        os.kill(os.getpid(), signal.SIGKILL)
