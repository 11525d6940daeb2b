"""The Backdrop stack under test: ``scripts/stack.py --profile faults`` on the suite's own
PostgreSQL, Redis and S3 (passed as ``BACKDROP_*`` overrides), and the processes to kill."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv" / "bin" / "python"
RUN = ROOT / ".run" / "faults"
GATEWAY = "http://127.0.0.1:26080"
S3_PORT = 26900


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (from /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cmdline(pid: int) -> str:
    """A process's command line ('' once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Stack:
    """Start/stop the stack and find its processes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}

    def _stack(self, *args: str) -> None:
        subprocess.run(
            [str(PY), str(ROOT / "scripts" / "stack.py"), *args, "--profile", "faults"],
            env=self.env, check=True, stdout=sys.stderr,
        )  # fmt: skip

    def up(self) -> None:
        """Start every service (fresh database and Redis) and wait until all are ready."""
        # Generous: on a busy 2-core machine the services take a while to import.
        self._stack("up", "--fresh", "--ready-timeout", "300")

    def down(self) -> None:
        """Stop every service."""
        self._stack("down")

    def ctl(self, *args: str) -> str:
        """``supervisorctl`` on the stack; its output."""
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "supervisorctl"), "-c", str(RUN / "supervisord.conf"),
             *args],
            env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        return done.stdout

    def pids(self, program: str) -> list[int]:
        """PIDs of a program's running processes (``worker``, ``upload``, ...)."""
        found = []
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if parts and parts[0].split(":")[0] == program and "RUNNING" in parts:
                found.append(int(parts[parts.index("pid") + 1].rstrip(",")))
        return found

    def horses(self) -> list[int]:
        """The job children (work horses) running right now, across every worker."""
        found = []
        for worker in self.pids("worker"):
            for child in children(worker):
                if "forkserver" in cmdline(child):
                    found += children(child)
        return found

    def kill_random_worker(self, rng: random.Random) -> int | None:
        """SIGKILL one worker process (supervisord starts it again); its pid."""
        workers = self.pids("worker")
        if not workers:
            return None
        victim = rng.choice(workers)
        os.kill(victim, signal.SIGKILL)
        return victim

    def kill_random_horse(self, rng: random.Random) -> int | None:
        """SIGKILL one running job child; its pid (None when no job runs)."""
        horses = self.horses()
        if not horses:
            return None
        victim = rng.choice(horses)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim
