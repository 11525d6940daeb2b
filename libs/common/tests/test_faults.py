"""Fault points kill the process only where the fault suite enabled them, in tests only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

SCRIPT = "from backdrop_common.faults import fault_point; fault_point('p'); print('passed')"


@pytest.mark.parametrize(
    ("env", "points", "killed"),
    [
        ("test", "other, p", True),
        ("test", "other", False),
        ("production", "p", False),  # a stray variable in production does nothing
        ("development", "p", False),
    ],
)
def test_fault_point(env: str, points: str, killed: bool) -> None:
    environ = {**os.environ, "BACKDROP_ENV": env, "BACKDROP_FAULT_POINTS": points}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=environ, capture_output=True, text=True, timeout=30
    )
    if killed:
        assert done.returncode == -signal.SIGKILL and "passed" not in done.stdout
    else:
        assert done.returncode == 0 and "passed" in done.stdout
